"""CallMediaCore without sockets or a loop: offer/answer, re-offers, hold, the inactivity
watch, when the stream is published, keyframe INFO, close. Time is injected; what goes on
the wire is read from ``datagrams_to_send``."""

from __future__ import annotations

import base64

from wcs import sdp
from wcs.app.media import (
    RTP_ACTIVITY_FAILED,
    CallMediaCore,
    MediaConfig,
    MediaEvent,
    MediaFailed,
    Route,
    SendInfo,
)
from wcs.app.media.tracks import negotiated_tracks
from wcs.app.stream_feed import StreamSink
from wcs.app.streams import TrackInfo
from wcs.media.audio import AudioFrame
from wcs.media.generators import BLACK_HEIGHT, BLACK_WIDTH, BlackVideo
from wcs.media.h264 import AccessUnit
from wcs.rtp import rtcp
from wcs.rtp.keyframe import MEDIA_CONTROL_TYPE, PICTURE_FAST_UPDATE
from wcs.rtp.packet import RtpPacket

PEER = "10.0.0.1"
PORTS = {"audio": 30000, "video": 30002}


def peer_sdp(
    *,
    version: int = 1,
    audio_port: int = 40000,
    video_port: int | None = 40002,
    h264_pt: int = 96,
    direction: str = "sendrecv",
    sprop: str | None = None,
) -> bytes:
    lines = [
        "v=0",
        f"o=peer 1 {version} IN IP4 {PEER}",
        "s=-",
        f"c=IN IP4 {PEER}",
        "t=0 0",
        f"m=audio {audio_port} RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000",
        f"a={direction}",
    ]
    if video_port is not None:
        fmtp = "packetization-mode=1;profile-level-id=42e01f"
        if sprop is not None:
            fmtp += f";sprop-parameter-sets={sprop}"
        lines += [
            f"m=video {video_port} RTP/AVP {h264_pt}",
            f"a=rtpmap:{h264_pt} H264/90000",
            f"a=fmtp:{h264_pt} {fmtp}",
            f"a={direction}",
        ]
    return ("\r\n".join(lines) + "\r\n").encode()


class Sink:
    def __init__(self) -> None:
        self.rtp: list[tuple[str, bytes]] = []

    def feed_rtp(self, kind: str, packet: bytes, timestamp: int) -> None:
        self.rtp.append((kind, packet))

    def feed_video(self, au: AccessUnit, pts_ms: float) -> None:
        pass

    def feed_audio(self, frame: AudioFrame, pts_ms: float) -> None:
        pass


class Outlet:
    """Records the core's publish decisions (the hub adapter is tested on its own)."""

    def __init__(self) -> None:
        self.published: list[dict[str, TrackInfo]] = []
        self.unpublished: list[tuple[str, bool]] = []
        self.sink = Sink()

    def publish(self, tracks: dict[str, TrackInfo]) -> StreamSink | None:
        self.published.append(tracks)
        return self.sink

    def unpublish(self, reason: str, failed: bool) -> None:
        self.unpublished.append((reason, failed))


def core(audio_only: bool = False, **config: object) -> tuple[CallMediaCore, Outlet]:
    outlet = Outlet()
    c = CallMediaCore(
        "c1",
        "192.0.2.1",
        ports={"audio": PORTS["audio"]} if audio_only else PORTS,
        config=MediaConfig(**config),  # type: ignore[arg-type]
        outlet=outlet,
    )
    return c, outlet


def audio_rtp(seq: int) -> bytes:
    return RtpPacket(0, seq, 160 * seq, 0x77, b"\xff" * 160).serialize()


def events(c: CallMediaCore) -> list[MediaEvent]:
    out: list[MediaEvent] = []
    while (e := c.next_event()) is not None:
        out.append(e)
    return out


def test_offer_names_our_ports_and_the_answer_starts_both_m_lines() -> None:
    c, _ = core()
    offer = sdp.SessionDescription.parse(c.offer().decode())
    assert [(m.kind, m.port) for m in offer.media] == [("audio", 30000), ("video", 30002)]
    assert c.datagrams_to_send(0.0) == [] and c.get_timer() is None  # nothing before the answer
    c.on_remote_sdp(peer_sdp(), True, 10.0)
    assert set(c.sessions) == {"audio", "video"}
    sent = c.datagrams_to_send(10.0)
    # Three init packets per m-line, to where the SDP says, from the RTP ports.
    assert [r for _, r in sent] == [Route("audio", False, (PEER, 40000))] * 3 + [
        Route("video", False, (PEER, 40002))
    ] * 3
    assert c.datagrams_to_send(10.0) == []  # drained
    assert c.get_timer() == 10.02  # the next silence packet


def test_an_answer_without_our_offer_or_unparsable_changes_nothing() -> None:
    c, outlet = core()
    c.on_remote_sdp(peer_sdp(), True, 0.0)
    assert c.sessions == {}
    c.offer()
    c.on_remote_sdp(b"not sdp", True, 0.0)
    assert c.sessions == {} and outlet.published == []


def test_rtcp_goes_out_of_the_rtcp_port_and_bye_on_close() -> None:
    c, outlet = core(audio_only=True)
    c.offer()
    c.on_remote_sdp(peer_sdp(video_port=None), True, 0.0)
    c.datagrams_to_send(0.0)
    c.handle_timer(0.5)  # the first report
    routes = [r for d, r in c.datagrams_to_send(0.5) if d[1] in (200, 201)]
    assert routes == [Route("audio", True, (PEER, 40001))]
    c.close("hangup")
    (bye,) = c.datagrams_to_send(0.6)
    assert bye[1] == Route("audio", True, (PEER, 40001))
    assert any(isinstance(p, rtcp.Bye) for p in rtcp.parse_compound(bye[0]))
    assert outlet.unpublished == [("hangup", False)]
    assert c.get_timer() is None


def test_published_on_the_final_answer_not_on_early_media() -> None:
    c, outlet = core()
    c.offer()
    c.on_remote_sdp(peer_sdp(), False, 0.0)  # 183 with SDP
    assert outlet.published == [] and set(c.sessions) == {"audio", "video"}
    c.receive_rtp("audio", audio_rtp(1), (PEER, 40000), 0.1)
    assert outlet.sink.rtp == []  # early media goes nowhere yet
    c.on_remote_sdp(peer_sdp(), True, 1.0)
    assert [set(t) for t in outlet.published] == [{"audio", "video"}]
    c.receive_rtp("audio", audio_rtp(2), (PEER, 40000), 1.1)
    assert [k for k, _ in outlet.sink.rtp] == ["audio"]
    c.on_remote_sdp(peer_sdp(), True, 2.0)  # a retransmitted 200: published once
    assert len(outlet.published) == 1


def test_published_on_early_media_when_configured() -> None:
    c, outlet = core(publish_early_media=True)
    c.offer()
    c.on_remote_sdp(peer_sdp(), False, 0.0)
    assert len(outlet.published) == 1
    c.on_remote_sdp(peer_sdp(), True, 1.0)
    assert len(outlet.published) == 1


def test_tracks_carry_sps_pps_and_picture_size_from_sprop() -> None:
    sps, pps = BlackVideo().parameter_sets()
    sprop = f"{base64.b64encode(sps).decode()},{base64.b64encode(pps).decode()}"
    h264 = sdp.Codec(96, "H264", 90000, None, f"packetization-mode=1;sprop-parameter-sets={sprop}")
    pcmu = sdp.Codec(0, "PCMU", 8000)
    lines = [
        sdp.NegotiatedMedia(0, "audio", False, "sendrecv", None, receive_codec=pcmu),
        sdp.NegotiatedMedia(1, "video", False, "sendrecv", None, receive_codec=h264),
    ]
    tracks = negotiated_tracks(lines, {"audio", "video"})
    video = tracks["video"]
    assert (video.codec, video.sps, video.pps) == ("H264", sps, pps)
    assert (video.width, video.height) == (BLACK_WIDTH, BLACK_HEIGHT)
    assert tracks["audio"].sps is None
    assert set(negotiated_tracks(lines, {"audio"})) == {"audio"}  # no session: no track


def test_reoffer_renumbers_payload_types_and_moves_the_address() -> None:
    c, _ = core()
    c.offer()
    c.on_remote_sdp(peer_sdp(h264_pt=96), True, 0.0)
    answer, hold = c.answer_remote_offer(peer_sdp(version=2, h264_pt=97, video_port=41002), 1.0)
    assert answer is not None and not hold
    parsed = sdp.SessionDescription.parse(answer.decode())
    assert parsed.media[1].codecs[0].payload_type == 97
    assert c.sessions["video"].remote_rtp == (PEER, 41002)
    c.receive_rtp("video", RtpPacket(97, 1, 0, 5, b"\x0c\xff").serialize(), (PEER, 41002), 1.1)
    assert c.sessions["video"].unknown_pt == 0


def test_hold_suspends_the_watch_and_silence_and_resume_restarts_them() -> None:
    c, _ = core(audio_only=True, activity_timeout=2.0)
    c.offer()
    c.on_remote_sdp(peer_sdp(video_port=None), True, 0.0)
    c.datagrams_to_send(0.0)
    _, hold = c.answer_remote_offer(peer_sdp(version=2, video_port=None, direction="sendonly"), 1.0)
    assert hold and c.hold and c.sessions["audio"].sending is False
    for t in (1.02, 1.04, 5.0, 50.0):
        c.handle_timer(t)
    assert events(c) == []  # no RTP for 49 s on hold: not a failure
    assert not [d for d, r in c.datagrams_to_send(50.0) if not r.rtcp_port]  # no silence
    _, hold = c.answer_remote_offer(peer_sdp(version=3, video_port=None), 60.0)
    assert not hold and c.sessions["audio"].sending is True
    timer = c.get_timer()
    assert timer is not None and timer < 62.0
    c.handle_timer(61.9)
    assert events(c) == []  # the full timeout again after resuming
    c.handle_timer(62.0)
    assert events(c) == [MediaFailed(RTP_ACTIVITY_FAILED)]


def test_no_rtp_for_the_timeout_fails_once_and_rtp_postpones_it() -> None:
    c, outlet = core(audio_only=True, activity_timeout=2.0)
    c.offer()
    c.on_remote_sdp(peer_sdp(video_port=None), False, 0.0)  # early media may be silent
    c.handle_timer(30.0)
    assert events(c) == []
    c.on_remote_sdp(peer_sdp(video_port=None), True, 30.0)
    c.receive_rtp("audio", audio_rtp(1), (PEER, 40000), 31.5)
    c.handle_timer(33.0)
    assert events(c) == []
    c.handle_timer(33.5)
    assert events(c) == [MediaFailed(RTP_ACTIVITY_FAILED)]
    c.handle_timer(40.0)
    assert events(c) == []  # once
    timer = c.get_timer()
    assert timer is not None and timer > 40.0  # no busy loop on the expired watch
    c.close(RTP_ACTIVITY_FAILED)
    assert outlet.unpublished == [(RTP_ACTIVITY_FAILED, True)]


def test_unanswered_keyframe_requests_end_in_a_sip_info() -> None:
    c, _ = core()
    c.offer()
    c.on_remote_sdp(peer_sdp(), True, 0.0)
    c.datagrams_to_send(0.0)
    for t in (1.0, 2.0):
        c.request_keyframe(t)
    fbs = [type(rtcp.parse_compound(d)[0]).__name__ for d, _ in c.datagrams_to_send(2.0)]
    assert fbs == ["Pli", "Fir"] and events(c) == []
    c.request_keyframe(3.0)
    assert events(c) == [SendInfo(MEDIA_CONTROL_TYPE, PICTURE_FAST_UPDATE)]


def test_offerless_reinvite_gets_a_fresh_offer_with_a_new_version() -> None:
    c, _ = core()
    first = sdp.SessionDescription.parse(c.offer().decode())
    c.on_remote_sdp(peer_sdp(), True, 0.0)
    body, hold = c.answer_remote_offer(None, 1.0)
    assert body is not None and not hold
    again = sdp.SessionDescription.parse(body.decode())
    assert again.origin.session_version == first.origin.session_version + 1
