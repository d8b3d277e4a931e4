"""CallMediaCore for an incoming call: the INVITE's offer is answered, the media starts
when the answer is sent, an offer with nothing in common is refused."""

from __future__ import annotations

from wcs import sdp

from .test_media_core import PEER, PORTS, core, peer_sdp


def test_first_offer_is_answered_and_the_media_starts_once_sent() -> None:
    c, outlet = core()
    answer = c.answer_first_offer(peer_sdp())
    assert answer is not None
    parsed = sdp.SessionDescription.parse(answer.decode())
    assert [(m.kind, m.port) for m in parsed.media] == [("audio", 30000), ("video", 30002)]
    assert parsed.media[0].codecs[0].name == "PCMU"  # the offerer's codec
    assert c.sessions == {} and outlet.published == []  # nothing before the 200 is sent
    c.start_answered(5.0)
    assert set(c.sessions) == {"audio", "video"} and len(outlet.published) == 1
    routes = {r.address for _, r in c.datagrams_to_send(5.0)}
    assert routes == {(PEER, 40000), (PEER, 40002)}


def test_audio_only_call_refuses_the_video_m_line() -> None:
    c, _ = core(audio_only=True)
    answer = c.answer_first_offer(peer_sdp())
    assert answer is not None
    parsed = sdp.SessionDescription.parse(answer.decode())
    assert [m.port for m in parsed.media] == [PORTS["audio"], 0]


def test_no_codec_in_common_is_none() -> None:
    c, outlet = core()
    g722 = (
        peer_sdp(video_port=None)
        .replace(b"RTP/AVP 0", b"RTP/AVP 9")
        .replace(b"rtpmap:0 PCMU/8000", b"rtpmap:9 G722/8000")
    )
    assert c.answer_first_offer(g722) is None
    c.start_answered(1.0)  # nothing was answered: nothing starts
    assert outlet.published == []
