"""Per-packet CPU of a published WebRTC stream's receive path (issue 13): SRTP unprotect
(AES-128-GCM and AES-CM/HMAC-SHA1, as browsers negotiate), demux by payload type, the RTP
session (stats, H.264 depacketization or Opus framing), NACK bookkeeping, the stream's GOP
cache and fan-out to one null packet sink and one null frame sink. No socket: the recvfrom
syscall is not counted. The input is the H.264 of bench_receive (black GOP, MTU 1200, a
30 kB keyframe every 30 pictures) and 20 ms Opus packets.

Prints µs per packet (best of 5) and what that is per published stream at a browser's
usual rate (1.5 Mbit/s video ≈ 150 packets/s, Opus 50 packets/s).
Run: python3 bench/bench_ingest.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from bench.bench_receive import NullFrameSink, NullPacketSink, video_packets
from wcs.app.stream_feed import StreamFeed
from wcs.app.streams import StreamHub
from wcs.rtp.packet import RtpPacket
from wcs.rtp.srtp import SrtpContext
from wcs.webrtc import events
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.ingest import PublisherPeer
from wcs.webrtc.transport import PeerSettings

OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n"
    "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    f"a=fingerprint:sha-256 {':'.join(['AB'] * 32)}\r\na=setup:actpass\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 97\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\n"
    "a=rtcp-mux\r\na=rtpmap:97 H264/90000\r\na=rtcp-fb:97 nack\r\na=rtcp-fb:97 goog-remb\r\n"
    "a=fmtp:97 packetization-mode=1;profile-level-id=42e01f\r\n"
)
KEY_LENGTH = {"SRTP_AES128_CM_SHA1_80": 30, "SRTP_AEAD_AES_128_GCM": 28}


def run(profile: str, packets: list[bytes]) -> float:
    feed = StreamFeed(0.0)
    publication = StreamHub().publish("bench", call_id=None, app_key="a")
    feed.stream = publication
    publication.stream.subscribe_packets(NullPacketSink())
    publication.stream.subscribe_frames(NullFrameSink())
    now = [0.0]
    peer = PublisherPeer(OFFER, feed, PeerSettings(CERT), clock=lambda: now[0])
    n = KEY_LENGTH[profile]
    ours, theirs = bytes(range(n)), bytes(range(100, 100 + n))
    browser = SrtpContext(profile, theirs, ours)
    peer.ice.send = lambda data: None
    peer._on_keys(SrtpContext(profile, ours, theirs))
    peer._keyed = True
    peer.state = events.CONNECTED
    wire = [browser.protect(p) for p in packets]
    receive = peer._on_datagram
    t0 = time.perf_counter()
    for data in wire:
        now[0] += 0.001
        receive(data)
    return (time.perf_counter() - t0) / len(wire) * 1e6


def main() -> None:
    video = [bytes([p[0], 97 | (p[1] & 0x80)]) + p[2:] for p in video_packets(600)]
    audio = [
        RtpPacket(111, i & 0xFFFF, 960 * i, 0x99, b"\xfc" + b"\x55" * 80).serialize()
        for i in range(5000)
    ]
    print(f"video: {len(video)} packets, {sum(map(len, video)) / len(video):.0f} B average")
    for profile in KEY_LENGTH:
        v = min(run(profile, video) for _ in range(5))
        a = min(run(profile, audio) for _ in range(5))
        share = (150 * v + 50 * a) / 1e6 * 100
        print(
            f"{profile:24} video {v:5.2f} µs/packet, opus {a:5.2f} µs/packet; "
            f"one stream (150 + 50 packets/s): {share:.3f} % of a core"
        )


CERT = Certificate.generate()

if __name__ == "__main__":
    main()
