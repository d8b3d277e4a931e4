from __future__ import annotations

import pytest

from wcs.sdp import (
    Codec,
    SdpError,
    SessionDescription,
    answer_direction,
    answer_offer,
    build_offer,
    default_audio_codecs,
    default_video_codecs,
    direction_of,
    is_hold,
    negotiate_answer,
)

from .samples import trace_sdp_bodies


def _answer(
    audio: str, video: str | None, direction: str = "sendrecv", ip: str = "10.1.1.2"
) -> str:
    """A baresip-like answer: the given m-line bodies after the common header."""
    text = f"v=0\r\no=- 5 6 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n{audio}"
    if video is not None:
        text += video
    return text.replace("DIR", direction)


AUDIO_ANSWER = (
    "m=audio 20028 RTP/AVP 8 0 96 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=DIR\r\n"
)
VIDEO_ANSWER = (
    "m=video 20012 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"
    "a=fmtp:97 packetization-mode=1;profile-level-id=42e01f\r\na=DIR\r\na=rtcp-fb:* nack pli\r\n"
)


def test_build_offer_shape() -> None:
    sd = build_offer("10.0.0.5", 31000, 31002, has_video=True, direction="recvonly", session_id=7)
    text = str(sd)
    assert "c=IN IP4 10.0.0.5\r\n" in text
    assert "m=audio 31000 RTP/AVP 8 0 96 101\r\n" in text
    assert "m=video 31002 RTP/AVP 97 98\r\n" in text
    assert "a=rtpmap:96 opus/48000/2\r\n" in text
    assert "a=rtpmap:101 telephone-event/8000\r\n" in text
    assert "a=fmtp:97 packetization-mode=1;profile-level-id=42e01f\r\n" in text
    assert "a=fmtp:98 packetization-mode=0;profile-level-id=42e01f\r\n" in text
    for fb in ("nack", "nack pli", "ccm fir"):
        assert f"a=rtcp-fb:97 {fb}\r\n" in text and f"a=rtcp-fb:98 {fb}\r\n" in text
    assert text.count("a=recvonly\r\n") == 2
    assert "a=rtcp-mux" not in text
    assert SessionDescription.parse(text) == sd


def test_build_offer_audio_only_and_ipv6_mux() -> None:
    sd = build_offer("2001:db8::1", 31000, 31002, has_video=False, rtcp_mux=True)
    assert [m.kind for m in sd.media] == ["audio"]
    assert sd.connection is not None and sd.connection.addrtype == "IP6"
    assert sd.media[0].rtcp_mux and sd.media[0].direction == "sendrecv"
    with pytest.raises(ValueError):
        build_offer("10.0.0.1", 1, None, has_video=True)


def test_negotiate_real_trace() -> None:
    bodies = trace_sdp_bodies()
    offer = SessionDescription.parse(next(b for _, f, b in bodies if f.startswith("INVITE")))
    answer = SessionDescription.parse(next(b for _, f, b in bodies if f.startswith("SIP/2.0 200")))
    audio, video = negotiate_answer(offer, answer)
    assert audio.receive_codec is not None and audio.receive_codec.name == "PCMU"
    assert audio.remote_address == ("127.0.0.1", 20028)
    assert audio.remote_rtcp_address == ("127.0.0.1", 20029)
    assert audio.telephone_event is not None and audio.telephone_event.payload_type == 101
    assert audio.remote_ssrcs == [636407640] and audio.remote_cname == "sip:1002@sip.test"
    # baresip answered "96 97 34 98 99": it sends H.264 packetization-mode 0, PT 96.
    assert video.receive_codec is not None and video.receive_codec.payload_type == 96
    assert video.receive_codec.parameters["packetization-mode"] == "0"
    assert video.remote_address == ("127.0.0.1", 20012) and video.direction == "sendrecv"
    assert not video.hold


def test_negotiate_our_offer_first_common_codec_of_answer() -> None:
    offer = build_offer("10.0.0.5", 31000, 31002, has_video=True, direction="recvonly")
    answer = SessionDescription.parse(_answer(AUDIO_ANSWER, VIDEO_ANSWER, "sendonly"))
    audio, video = negotiate_answer(offer, answer)
    assert audio.receive_codec is not None and audio.receive_codec.name == "PCMA"
    assert audio.direction == "recvonly"
    assert video.receive_codec is not None and video.receive_codec.payload_type == 97
    assert video.receive_payload_types.keys() == {97}
    # The answerer's choice wins even when it reorders: PCMU first → PCMU.
    reordered = AUDIO_ANSWER.replace("8 0 96 101", "0 8 96 101")
    audio2 = negotiate_answer(offer, SessionDescription.parse(_answer(reordered, VIDEO_ANSWER)))[0]
    assert audio2.receive_codec is not None and audio2.receive_codec.name == "PCMU"


def test_negotiate_answer_with_other_payload_type_number() -> None:
    offer = build_offer("10.0.0.5", 31000, None)
    audio = "m=audio 4000 RTP/AVP 111 0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"
    nm = negotiate_answer(offer, SessionDescription.parse(_answer(audio, None)))[0]
    assert nm.receive_codec is not None and nm.receive_codec.payload_type == 96
    assert nm.send_codec is not None and nm.send_codec.payload_type == 111
    assert set(nm.receive_payload_types) == {96, 111, 0}
    assert nm.telephone_event is None


def test_negotiate_rejected_video_and_errors() -> None:
    offer = build_offer("10.0.0.5", 31000, 31002, has_video=True)
    rejected = "m=video 0 RTP/AVP 97\r\n"
    audio, video = negotiate_answer(
        offer, SessionDescription.parse(_answer(AUDIO_ANSWER, rejected))
    )
    assert not audio.rejected and video.rejected and video.receive_codec is None
    with pytest.raises(SdpError, match="m-lines"):
        negotiate_answer(offer, SessionDescription.parse(_answer(AUDIO_ANSWER, None)))
    no_common = "m=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
    with pytest.raises(SdpError, match="no codec"):
        negotiate_answer(
            build_offer("10.0.0.5", 31000), SessionDescription.parse(_answer(no_common, None))
        )
    swapped = _answer(VIDEO_ANSWER, AUDIO_ANSWER)
    with pytest.raises(SdpError):
        negotiate_answer(offer, SessionDescription.parse(swapped))


def test_negotiate_rtcp_attribute_and_hold_answer() -> None:
    offer = build_offer("10.0.0.5", 31000)
    audio = "m=audio 4000 RTP/AVP 0\r\na=rtcp:4999\r\na=inactive\r\n"
    nm = negotiate_answer(offer, SessionDescription.parse(_answer(audio, None)))[0]
    assert nm.remote_rtcp_address == ("10.1.1.2", 4999)
    assert nm.direction == "inactive" and nm.hold


@pytest.mark.parametrize(
    "offered,local,expected",
    [
        ("sendrecv", "sendrecv", "sendrecv"),
        ("sendonly", "sendrecv", "recvonly"),
        ("recvonly", "sendrecv", "sendonly"),
        ("inactive", "sendrecv", "inactive"),
        ("sendrecv", "recvonly", "recvonly"),
        ("recvonly", "recvonly", "inactive"),
    ],
)
def test_answer_direction(offered: str, local: str, expected: str) -> None:
    assert answer_direction(offered, local) == expected


def _reinvite(direction: str, ip: str = "10.1.1.2") -> SessionDescription:
    text = (
        f"v=0\r\no=- 5 7 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
        "m=audio 20028 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        f"{direction}a=ptime:20\r\n"
        "m=video 20012 RTP/AVP 96 97\r\na=rtpmap:96 H264/90000\r\n"
        "a=fmtp:96 packetization-mode=0;profile-level-id=42e01f\r\na=rtpmap:97 H264/90000\r\n"
        "a=fmtp:97 packetization-mode=1;profile-level-id=42e01f\r\n"
        f"a=rtcp-fb:* nack pli\r\n{direction}"
    )
    return SessionDescription.parse(text)


CAPS = {"audio": default_audio_codecs(), "video": default_video_codecs()}


@pytest.mark.parametrize(
    "line,ip,expected,hold",
    [
        ("", "10.1.1.2", "sendrecv", False),
        ("a=sendonly\r\n", "10.1.1.2", "recvonly", True),
        ("a=inactive\r\n", "10.1.1.2", "inactive", True),
        ("a=recvonly\r\n", "10.1.1.2", "sendonly", False),
        ("", "0.0.0.0", "recvonly", True),  # RFC 2543 hold
        ("a=inactive\r\n", "0.0.0.0", "inactive", True),
    ],
)
def test_answer_reinvite_hold(line: str, ip: str, expected: str, hold: bool) -> None:
    offer = _reinvite(line, ip)
    assert is_hold(offer.media[0], offer) is hold
    answer = answer_offer(offer, CAPS, "10.0.0.5", {"audio": 31000, "video": 31002})
    assert [direction_of(m, answer) for m in answer.media] == [expected, expected]
    assert [m.port for m in answer.media] == [31000, 31002]
    # Offerer's order and payload types are kept.
    assert [c.payload_type for c in answer.media[0].codecs] == [0, 8, 101]
    assert [c.payload_type for c in answer.media[1].codecs] == [96, 97]
    assert answer.media[1].rtcp_fb_all == ["nack pli"]
    assert answer.media[0].ptime == 20
    assert SessionDescription.parse(str(answer)) == answer


def test_answer_rejects_unsupported_media_and_bumps_version() -> None:
    offer = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 10.1.1.2\r\ns=-\r\nc=IN IP4 10.1.1.2\r\nt=0 0\r\n"
        "m=audio 20028 RTP/AVP 0\r\nm=video 20012 RTP/AVP 34\r\n"
        "m=application 5000 UDP/BFCP *\r\n"
    )
    previous = build_offer("10.0.0.5", 31000, session_id=99, session_version=3)
    answer = answer_offer(offer, CAPS, "10.0.0.5", [31000, 31002, 31004], previous=previous)
    assert [m.port for m in answer.media] == [31000, 0, 0]
    assert answer.media[1].codecs[0].payload_type == 34  # still a valid m-line
    assert "m=application 0 UDP/BFCP *\r\n" in str(answer)
    assert answer.origin.session_id == "99" and answer.origin.session_version == 4


def test_answer_h264_level_is_lowered_to_ours() -> None:
    offer = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 10.1.1.2\r\ns=-\r\nc=IN IP4 10.1.1.2\r\nt=0 0\r\n"
        "m=video 20012 RTP/AVP 100\r\na=rtpmap:100 H264/90000\r\n"
        "a=fmtp:100 profile-level-id=42e028;packetization-mode=1\r\n"
        "a=rtcp-fb:100 nack\r\na=rtcp-fb:100 goog-remb\r\n"
    )
    caps = {
        "video": [
            Codec(
                97,
                "H264",
                90000,
                None,
                "packetization-mode=1;profile-level-id=42e01f",
                ["nack", "nack pli"],
            )
        ]
    }
    answer = answer_offer(offer, caps, "10.0.0.5", {"video": 31002})
    codec = answer.media[0].codecs[0]
    assert codec.payload_type == 100
    assert codec.parameters["profile-level-id"] == "42e01f"
    assert codec.rtcp_fb == ["nack"]  # only what both sides listed


def test_negotiate_answer_with_zero_address_is_hold() -> None:
    offer = build_offer("10.0.0.5", 31000)
    audio = "m=audio 4000 RTP/AVP 0\r\n"
    nm = negotiate_answer(offer, SessionDescription.parse(_answer(audio, None, ip="0.0.0.0")))[0]
    assert nm.hold and nm.direction == "recvonly"


def test_blank_lines_inside_are_tolerated() -> None:
    sd = SessionDescription.parse("v=0\r\no=- 1 1 IN IP4 a\r\n\r\ns=x\r\n\r\n")
    assert sd.name == "x"
