from __future__ import annotations

import pytest

from wcs.sdp import (
    Codec,
    ConnectionData,
    MediaDescription,
    SdpError,
    SessionDescription,
)

from .samples import CHROME_OFFER, trace_sdp_bodies


def _lines(text: str) -> list[str]:
    return sorted(ln for ln in text.split("\r\n") if ln)


def test_trace_has_offers_and_answers() -> None:
    firsts = [first for _, first, _ in trace_sdp_bodies()]
    assert any(f.startswith("INVITE") for f in firsts)
    assert any(f.startswith("SIP/2.0 200") for f in firsts)


@pytest.mark.parametrize("frame,first,body", trace_sdp_bodies())
def test_trace_sdp_round_trip(frame: int, first: str, body: str) -> None:
    sd = SessionDescription.parse(body)
    out = str(sd)
    assert out.endswith("\r\n") and "\n" not in out.replace("\r\n", "")
    # Same lines (known attributes come out in canonical order), and same model.
    assert _lines(out) == _lines(body)
    assert SessionDescription.parse(out) == sd


def test_trace_offer_fields() -> None:
    _, _, body = next(b for b in trace_sdp_bodies() if b[1].startswith("INVITE"))
    sd = SessionDescription.parse(body)
    assert sd.origin.session_id == "1016126297"
    assert sd.origin.session_version == 2005785245
    assert sd.connection == ConnectionData("127.0.0.1")
    assert sd.get_attribute("tool") == "baresip 1.0.0"
    audio, video = sd.media
    assert (audio.kind, audio.port, audio.proto) == ("audio", 20134, "RTP/AVP")
    assert [c.payload_type for c in audio.codecs] == [0, 8, 96, 101]
    assert [c.name for c in audio.codecs] == ["PCMU", "PCMA", "opus", "telephone-event"]
    opus = audio.codec(96)
    assert opus is not None and opus.channels == 2 and opus.clock_rate == 48000
    assert opus.parameters == {"stereo": "1", "sprop-stereo": "1"}
    assert audio.direction == "sendrecv" and audio.rtcp_rsize and audio.ptime == 20
    assert audio.ssrc_values() == [2028701791] and audio.cname() == "sip:1001@sip.test"
    assert audio.get_attribute("minptime") == "20" and audio.get_attribute("label") == "1"
    h264 = video.codec(97)
    assert h264 is not None and h264.name == "H264" and h264.clock_rate == 90000
    assert h264.parameters["packetization-mode"] == "1"
    assert video.rtcp_fb_all == ["nack pli"]
    assert video.feedback(h264) == ["nack pli"]
    assert video.framerate == "15.00"
    assert video.get_attribute("content") == "main"


def test_chrome_offer() -> None:
    sd = SessionDescription.parse(CHROME_OFFER)
    assert _lines(str(sd)) == _lines(CHROME_OFFER)
    assert SessionDescription.parse(str(sd)) == sd
    assert sd.bundle_mids() == ["0", "1", "2"]
    assert sd.msid_semantic == " WMS"
    assert sd.get_attribute("extmap-allow-mixed") == ""
    audio, video, data = sd.media
    assert audio.mid == "0" and audio.direction == "recvonly" and audio.rtcp_mux
    assert audio.rtcp is not None and audio.rtcp.port == 9
    assert audio.rtcp.connection == ConnectionData("0.0.0.0")
    assert len(audio.candidates) == 3 and audio.candidates[2].endswith("generation 0")
    assert audio.ice_ufrag == "kZ0Q" and audio.ice_options == "trickle"
    assert audio.fingerprints[0].algorithm == "sha-256"
    assert audio.setup == "actpass"
    assert next((e.id, e.uri.rsplit(":", 1)[-1]) for e in audio.extmaps) == (1, "ssrc-audio-level")
    assert video.extmaps[3].direction == "recvonly" and video.extmaps[3].id == 9
    assert video.msid is not None and video.msid.startswith("7c5e2a1b")
    assert video.ssrc_groups[0].semantics == "FID"
    assert video.ssrc_groups[0].ssrcs == [1902127357, 3393127006]
    h264 = video.codec(102)
    assert h264 is not None and h264.rtcp_fb[-1] == "nack pli"
    assert data.kind == "application" and data.formats == ["webrtc-datachannel"]
    assert data.codecs == [] and data.get_attribute("sctp-port") == "5000"


def test_build_from_scratch_serializes_crlf() -> None:
    m = MediaDescription("audio", 4000, codecs=[Codec(0, "PCMU", 8000)], direction="inactive")
    m.crypto = []
    sd = SessionDescription(connection=ConnectionData("192.0.2.1"), media=[m])
    text = sd.serialize()
    assert text == (
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\na=inactive\r\na=rtpmap:0 PCMU/8000\r\n"
    )


def test_session_level_attributes_round_trip() -> None:
    text = (
        "v=0\no=alice 1 2 IN IP6 ::1\ns=call\ni=info\nu=http://x\ne=a@b\np=+1\n"
        "c=IN IP6 ::1\nb=AS:512\nt=10 20\nr=7d 1h 0 25h\nz=2882844526 -1h\nk=prompt\n"
        "a=ice-lite\na=ice-ufrag:u\na=ice-pwd:p\na=fingerprint:sha-1 AA:BB\n"
        "a=setup:passive\na=sendonly\na=x-custom:1\na=flag\n"
        "m=audio 5000/2 RTP/SAVP 0\nb=TIAS:64000\n"
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80"
        " inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20|1:32 KDR=1\n"
        "a=rtcp:5003 IN IP6 ::2\na=end-of-candidates\na=maxptime:40\n"
    )
    sd = SessionDescription.parse(text)
    assert sd.ice_lite and sd.direction == "sendonly" and sd.setup == "passive"
    assert sd.timings[0].repeats == ["7d 1h 0 25h"] and sd.zone == "2882844526 -1h"
    assert sd.attributes == [("x-custom", "1"), ("flag", None)]
    m = sd.media[0]
    assert m.port_count == 2 and m.bandwidths[0].value == 64000
    assert m.crypto[0].tag == 1 and m.crypto[0].session_params == "KDR=1"
    assert m.rtcp is not None and m.rtcp.connection is not None
    assert m.rtcp.connection.address == "::2" and m.end_of_candidates and m.maxptime == 40
    assert SessionDescription.parse(str(sd)) == sd
    # A static payload type gets its a=rtpmap written out (harmless, and explicit).
    expected = text.replace("\n", "\r\n") + "a=rtpmap:0 PCMU/8000\r\n"
    assert _lines(str(sd)) == _lines(expected)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x",
        "o=- 1 1 IN IP4 1.2.3.4\r\n",  # no v=
        "v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\n",
        "v=0\r\ns=-\r\n",  # no o=
        "v=0\r\no=- 1 x IN IP4 1.2.3.4\r\n",
        "v=0\r\no=- 1 1 IN IP4\r\n",
        "v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4\r\n",
        "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio x RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 70000 RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 128\r\n",
        "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 0 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 96\r\na=rtpmap:96 opus\r\n",
        "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 96\r\na=rtpmap:96 opus/x\r\n",
        "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 0\r\na=ssrc:abc cname:x\r\n",
        "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 0\r\nb=AS\r\n",
        "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 0\r\nt=0 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 a\r\na=:x\r\n",
        "v=0\r\no=- 1 1 IN IP4 a\r\nhello\r\n",
    ],
)
def test_malformed_raises_sdp_error(text: str) -> None:
    with pytest.raises(SdpError):
        SessionDescription.parse(text)


def test_bad_utf8_is_sdp_error() -> None:
    with pytest.raises(SdpError):
        SessionDescription.parse(b"v=0\r\no=\xff\xfe 1 1 IN IP4 a\r\n")
