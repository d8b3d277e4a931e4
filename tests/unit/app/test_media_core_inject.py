"""CallMediaCore with a stream injected (no sockets): the injected H.264 goes out of the
call's video port on the call's SSRC from a keyframe, the peer's PLI asks the source, a
call without H.264 takes none; the injected audio goes out in the call's codec."""

from __future__ import annotations

from tests.unit.app.test_media_core import PEER, core, peer_sdp
from wcs.app.live_audio import LiveAudio
from wcs.media.g711 import ulaw_encode
from wcs.rtp import rtcp
from wcs.rtp.packet import RtpPacket

SPS = bytes([0x67, 0x42, 0xE0, 0x1F])


def video(seq: int, payload: bytes) -> bytes:
    return RtpPacket(102, seq, 3000 * seq, 0xBEEF, payload, True).serialize()


def test_injected_video_goes_out_restamped_and_the_peers_pli_reaches_the_source() -> None:
    c, _ = core()
    c.offer()
    c.on_remote_sdp(peer_sdp(h264_pt=96), True, 0.0)
    c.datagrams_to_send(0.0)  # the init packets
    asked: list[int] = []
    assert c.inject_video("H264", "packetization-mode=1", lambda: asked.append(1))
    assert not c.forward_video(video(1, bytes([0x41, 0x9A])))  # not a keyframe: held back
    assert c.forward_video(video(2, SPS))
    ((data, route),) = c.datagrams_to_send(0.1)
    out = RtpPacket.parse(data)
    session = c.sessions["video"]
    assert route.kind == "video" and route.address == (PEER, 40002)
    assert (out.ssrc, out.payload_type, out.payload) == (session.local_ssrc, 96, SPS)
    pli = rtcp.Pli(0x1234, session.local_ssrc).serialize()
    c.receive_rtcp("video", pli, (PEER, 40003), 0.2)
    assert asked == [1]
    c.stop_video()
    assert not c.forward_video(video(3, SPS))


def test_no_video_into_a_call_without_h264_or_from_vp8() -> None:
    c, _ = core(audio_only=True)
    c.offer()
    c.on_remote_sdp(peer_sdp(video_port=None), True, 0.0)
    assert not c.inject_video("H264", None, lambda: None)
    assert not c.forward_video(video(1, SPS))
    c2, _ = core()
    c2.offer()
    c2.on_remote_sdp(peer_sdp(), True, 0.0)
    assert not c2.inject_video("VP8", None, lambda: None)


def test_injected_audio_replaces_silence_in_the_calls_codec() -> None:
    c, _ = core(audio_only=True)
    c.offer()
    c.on_remote_sdp(peer_sdp(video_port=None), True, 0.0)
    c.datagrams_to_send(0.0)
    fmt = c.audio_format()
    assert (fmt.codec, fmt.step, fmt.pcm_rate) == ("PCMU", 160, 8000)
    live = LiveAudio("pub", fmt, jitter_ms=0)
    payload = ulaw_encode(bytes(range(0, 256, 2)) * 2 + bytes(64))
    for _ in range(3):
        live.push("PCMU", payload)
    assert c.inject_audio(live) is None
    c.handle_timer(0.02)
    sent = [RtpPacket.parse(d) for d, r in c.datagrams_to_send(0.02) if r.kind == "audio"]
    assert [p.payload for p in sent] == [payload]  # same codec and ptime: passed through
    assert c.inject_audio(None) is live
