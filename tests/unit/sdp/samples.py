"""SDP samples: the real baresip offer/answer from the trace, and a Chrome-like WebRTC offer."""

from __future__ import annotations

from pathlib import Path

from wcs.pcap import read_pcap

TRACE = Path(__file__).resolve().parents[3] / "conformance" / "traces" / "02-call-av.pcap"


def trace_sdp_bodies() -> list[tuple[int, str, str]]:
    """(frame, first line, SDP body) of every SIP message with a body in the call trace."""
    found = []
    for pkt in read_pcap(TRACE):
        if pkt.src[1] < 5000 or pkt.src[1] > 5100:
            continue
        head, sep, body = pkt.payload.partition(b"\r\n\r\n")
        if sep and body.startswith(b"v=0"):
            first = head.split(b"\r\n", 1)[0].decode()
            found.append((pkt.index, first, body.decode()))
    return found


CHROME_OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1 2",
        "a=extmap-allow-mixed",
        "a=msid-semantic: WMS",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=candidate:1467250027 1 udp 2122260223 192.168.1.20 46243 typ host generation 0"
        " network-id 1",
        "a=candidate:1467250027 1 udp 2122260223 192.168.1.20 46243 typ host generation 0",
        "a=candidate:434802283 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active"
        " generation 0",
        "a=ice-ufrag:kZ0Q",
        "a=ice-pwd:s6dOr7W3bUQWYHRrFbY8QeyV",
        "a=ice-options:trickle",
        "a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:"
        "24:C2:43:F0:A1:58:D0:A1:2C:19:08",
        "a=setup:actpass",
        "a=mid:0",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=recvonly",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=rtcp-fb:111 transport-cc",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:63 red/48000/2",
        "a=fmtp:63 111/111",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:13 CN/8000",
        "a=rtpmap:110 telephone-event/48000",
        "a=rtpmap:126 telephone-event/8000",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 127 121",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=ice-ufrag:kZ0Q",
        "a=ice-pwd:s6dOr7W3bUQWYHRrFbY8QeyV",
        "a=ice-options:trickle",
        "a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:"
        "24:C2:43:F0:A1:58:D0:A1:2C:19:08",
        "a=setup:actpass",
        "a=mid:1",
        "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset",
        "a=extmap:13 urn:3gpp:video-orientation",
        "a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
        "a=extmap:9/recvonly http://www.webrtc.org/experiments/rtp-hdrext/video-timing",
        "a=sendrecv",
        "a=msid:7c5e2a1b-3f1e-4d1c-9d3e-0f2d2b0a8c11 2b7bbd3f-6a4e-4b7b-8b4d-3c3e2e2f9b1a",
        "a=rtcp-mux",
        "a=rtcp-rsize",
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 goog-remb",
        "a=rtcp-fb:96 transport-cc",
        "a=rtcp-fb:96 ccm fir",
        "a=rtcp-fb:96 nack",
        "a=rtcp-fb:96 nack pli",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
        "a=rtpmap:102 H264/90000",
        "a=rtcp-fb:102 goog-remb",
        "a=rtcp-fb:102 transport-cc",
        "a=rtcp-fb:102 ccm fir",
        "a=rtcp-fb:102 nack",
        "a=rtcp-fb:102 nack pli",
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
        "a=rtpmap:103 rtx/90000",
        "a=fmtp:103 apt=102",
        "a=rtpmap:127 H264/90000",
        "a=rtcp-fb:127 nack pli",
        "a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        "a=rtpmap:121 rtx/90000",
        "a=fmtp:121 apt=127",
        "a=ssrc-group:FID 1902127357 3393127006",
        "a=ssrc:1902127357 cname:Yq1dPSh1ZTbvc7V5",
        "a=ssrc:1902127357 msid:7c5e2a1b-3f1e-4d1c-9d3e-0f2d2b0a8c11"
        " 2b7bbd3f-6a4e-4b7b-8b4d-3c3e2e2f9b1a",
        "a=ssrc:3393127006 cname:Yq1dPSh1ZTbvc7V5",
        "a=ssrc:3393127006 msid:7c5e2a1b-3f1e-4d1c-9d3e-0f2d2b0a8c11"
        " 2b7bbd3f-6a4e-4b7b-8b4d-3c3e2e2f9b1a",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:kZ0Q",
        "a=ice-pwd:s6dOr7W3bUQWYHRrFbY8QeyV",
        "a=ice-options:trickle",
        "a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:"
        "24:C2:43:F0:A1:58:D0:A1:2C:19:08",
        "a=setup:actpass",
        "a=mid:2",
        "a=sctp-port:5000",
        "a=max-message-size:262144",
        "",
    ]
)
