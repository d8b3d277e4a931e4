"""A re-INVITE's offer against a running call's media (wcs.app.media.CallMediaCore): new
address and payload type numbers are applied, the running codec is kept, an offer without it
is refused (488 upstream) and changes nothing."""

from __future__ import annotations

import pytest

from wcs import sdp
from wcs.app.media import CallMediaCore


def _peer_sdp(
    version: int, ip: str, audio_port: int, video_port: int, audio: str, h264_pt: int
) -> bytes:
    pcm = {"PCMU": "0 PCMU/8000", "PCMA": "8 PCMA/8000"}[audio]
    pt = pcm.split()[0]
    return (
        "v=0\r\n"
        f"o=peer 1 {version} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
        f"m=audio {audio_port} RTP/AVP {pt}\r\na=rtpmap:{pcm}\r\na=sendrecv\r\n"
        f"m=video {video_port} RTP/AVP {h264_pt}\r\na=rtpmap:{h264_pt} H264/90000\r\n"
        f"a=fmtp:{h264_pt} packetization-mode=0;profile-level-id=42e01f\r\na=sendrecv\r\n"
    ).encode()


@pytest.fixture
def media() -> CallMediaCore:
    return CallMediaCore("c1", "127.0.0.1", ports={"audio": 30000, "video": 30002})


def test_reoffer_applies_address_and_payload_types(media: CallMediaCore) -> None:
    media.offer()
    media.on_remote_sdp(_peer_sdp(1, "127.0.0.1", 40000, 40002, "PCMU", 96), True, 0.0)
    video = media.sessions["video"]
    assert 96 in video.payload_types and video.remote_rtp == ("127.0.0.1", 40000 + 2)
    answer, hold = media.answer_remote_offer(
        _peer_sdp(2, "127.0.0.2", 41000, 41002, "PCMU", 97), 1.0
    )
    assert answer is not None and not hold
    parsed = sdp.SessionDescription.parse(answer.decode())
    assert [m.codecs[0].payload_type for m in parsed.media] == [0, 97]
    assert 97 in video.payload_types  # the renumbered H.264 is accepted, not unknown_pt
    assert video.remote_rtp == ("127.0.0.2", 41002)
    assert media.sessions["audio"].remote_rtp == ("127.0.0.2", 41000)


def test_reoffer_without_the_running_codec_is_refused_and_changes_nothing(
    media: CallMediaCore,
) -> None:
    media.offer()
    media.on_remote_sdp(_peer_sdp(1, "127.0.0.1", 40000, 40002, "PCMU", 96), True, 0.0)
    local_before = str(media.local)
    audio = media.sessions["audio"]
    answer, hold = media.answer_remote_offer(
        _peer_sdp(2, "127.0.0.2", 41000, 41002, "PCMA", 96), 1.0
    )
    assert answer is None and not hold
    assert str(media.local) == local_before
    assert audio.codec.name == "PCMU" and audio.remote_rtp == ("127.0.0.1", 40000)


def test_reoffer_turning_video_off_keeps_audio(media: CallMediaCore) -> None:
    media.offer()
    media.on_remote_sdp(_peer_sdp(1, "127.0.0.1", 40000, 40002, "PCMU", 96), True, 0.0)
    answer, _ = media.answer_remote_offer(_peer_sdp(2, "127.0.0.1", 40000, 0, "PCMU", 96), 1.0)
    assert answer is not None
    parsed = sdp.SessionDescription.parse(answer.decode())
    assert parsed.media[0].port != 0 and parsed.media[1].port == 0
    assert media.sessions["video"].sending is False
    assert media.sessions["audio"].sending is True
