"""StreamInjections at the manager level (fake UA and media, a real hub): start, replace,
terminate, the stream ending, the call ending; refusals leave the call untouched."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from wcs.app.call_inject import EVENT, StreamInjections
from wcs.app.errors import RequestError
from wcs.app.live_audio import LiveAudio
from wcs.app.stream import PublisherControl, TrackInfo
from wcs.app.streams import StreamHub
from wcs.media.audio import AudioFrame
from wcs.media.dtmf import DtmfError
from wcs.media.g711 import ulaw_decode
from wcs.media.h264.nal import AccessUnit
from wcs.rest.views import call_json
from wcs.rtp.outgoing_audio import AudioFormat, PcmSource
from wcs.sip import events as ev

from .test_calls import Env, FakeMedia, request


@dataclass
class InjectMedia(FakeMedia):
    rate: int | None = 8000
    sources: list[PcmSource | None] = field(default_factory=list)

    def audio_format(self) -> AudioFormat:
        if self.rate is None:
            raise DtmfError("the call has no audio we can send on")
        return AudioFormat("PCMA", 160, self.rate)  # PCMU streams are decoded

    def inject_audio(self, source: PcmSource | None) -> PcmSource | None:
        old = self.sources[-1] if self.sources else None
        self.sources.append(source)
        return old

    video: bool = False  # the call has video the source fits
    forwarded: list[bytes | AccessUnit] = field(default_factory=list)
    video_on: bool = False

    def inject_video(self, codec: str, fmtp: str | None, on_keyframe_wanted: Any) -> bool:
        self.video_on = self.video and codec == "H264"
        return self.video_on

    def stop_video(self) -> None:
        self.video_on = False

    def forward_video(self, data: bytes | AccessUnit) -> None:
        assert self.video_on
        self.forwarded.append(data)


def setup() -> tuple[Env, InjectMedia, StreamHub, StreamInjections]:
    env = Env()
    media = InjectMedia()
    env.calls._media_factory = lambda call: media  # type: ignore[assignment,return-value]
    env.calls.startup(request())
    env.calls.on_sip_event(ev.CallAnswered("c1", 200, "OK", None))
    hub = StreamHub()
    return env, media, hub, StreamInjections(env.calls, hub)


def audio_stream(hub: StreamHub, name: str, codec: str = "PCMU") -> object:
    track = TrackInfo("audio", codec, 8000 if codec != "opus" else 48000)
    return hub.publish(name, call_id=None, app_key="x", tracks={"audio": track})


def events(env: Env) -> list[tuple[str, str, str]]:
    return [(b["status"], b["streamName"], b["info"])
            for _, m, b in env.hooks.posted if m == EVENT]  # fmt: skip


def test_start_feeds_the_call_then_terminate_back_to_silence() -> None:
    env, media, hub, inj = setup()
    pub = audio_stream(hub, "pub")
    inj.start("c1", "pub")
    live = media.sources[-1]
    assert isinstance(live, LiveAudio) and live.rate == 8000
    call = env.calls.get("c1")
    assert call is not None and call_json(call)["injectedStream"] == "pub"
    payload = bytes(range(160))
    for i in range(4):
        pub.feed_audio(AudioFrame("PCMU", i * 160, 8000, payload, 160), i * 20.0)  # type: ignore[attr-defined]
    assert live.take(160, 8000) == ulaw_decode(payload)
    assert hub.get("pub").subscribers == 1  # type: ignore[union-attr]
    inj.stop("c1")
    assert media.sources[-1] is None and call.injected is None
    assert hub.get("pub").subscribers == 0  # type: ignore[union-attr]
    assert events(env) == [("STARTED", "pub", "Injected stream pub"),
                           ("STOPPED", "pub", "Terminated by REST")]  # fmt: skip
    with pytest.raises(RequestError) as exc:
        inj.stop("c1")
    assert exc.value.status == 404
    assert len(inj) == 0


def test_replace_then_the_stream_ends_then_the_call_ends() -> None:
    env, media, hub, inj = setup()
    audio_stream(hub, "a")
    b = audio_stream(hub, "b", "opus")
    inj.start("c1", "a")
    inj.start("c1", "b")
    assert hub.get("a").subscribers == 0  # type: ignore[union-attr]
    b.unpublish("Stopped by publisher")  # type: ignore[attr-defined]
    assert media.sources[-1] is None
    assert events(env) == [
        ("STARTED", "a", "Injected stream a"),
        ("STOPPED", "a", "Replaced by stream b"),
        ("STARTED", "b", "Injected stream b"),
        ("STOPPED", "b", "Stream b ended: Stopped by publisher"),
    ]
    assert inj.source_ended_total == 1
    audio_stream(hub, "c")
    inj.start("c1", "c")
    env.calls.on_sip_event(ev.CallReleased("c1", True, None, "Normal call clearing"))
    assert events(env)[-1] == ("STOPPED", "c", "Call ended")
    assert hub.get("c").subscribers == 0 and len(inj) == 0  # type: ignore[union-attr]


def test_refusals_change_nothing() -> None:
    env, media, hub, inj = setup()
    hub.publish("video_only", call_id=None, app_key="x",
                tracks={"video": TrackInfo("video", "H264", 90000)})  # fmt: skip
    hub.publish("g722", call_id=None, app_key="x",
                tracks={"audio": TrackInfo("audio", "G722", 8000)})  # fmt: skip
    audio_stream(hub, "ok")

    def status(call_id: str, name: str) -> tuple[int, str | None]:
        with pytest.raises(RequestError) as exc:
            inj.start(call_id, name)
        return exc.value.status, exc.value.field

    assert status("nope", "ok") == (404, "callId")
    assert status("c1", "nope") == (404, "streamName")
    assert status("c1", "video_only")[0] == 409
    assert status("c1", "g722")[0] == 409
    media.rate = None
    assert status("c1", "ok")[0] == 409
    assert media.sources == [] and events(env) == []
    assert env.calls.get("c1").injected is None  # type: ignore[union-attr]


def test_video_goes_in_when_the_call_takes_it() -> None:
    _, media, hub, inj = setup()
    media.video = True
    tracks = {"audio": TrackInfo("audio", "opus", 48000),
              "video": TrackInfo("video", "H264", 90000)}  # fmt: skip
    asked: list[int] = []
    control = PublisherControl(request_keyframe=lambda: asked.append(1))
    pub = hub.publish("av", call_id=None, app_key="x", tracks=tracks, control=control)
    inj.start("c1", "av")
    assert media.video_on and asked == [1]  # a keyframe asked for at the switch
    pub.feed_rtp("video", b"pkt", 0)
    pub.feed_rtp("audio", b"not video", 0)
    assert media.forwarded == [b"pkt"]
    audio_stream(hub, "a")
    inj.start("c1", "a")  # no video in it: the call's video stops
    assert not media.video_on
    pub.feed_rtp("video", b"pkt2", 0)
    assert media.forwarded == [b"pkt"]


def test_the_peers_picture_fast_update_reaches_the_source() -> None:
    env, media, hub, inj = setup()
    media.video = True
    asked: list[int] = []
    tracks = {"video": TrackInfo("video", "H264", 90000), "audio": TrackInfo("audio", "PCMU", 8000)}
    control = PublisherControl(request_keyframe=lambda: asked.append(1))
    hub.publish("av", call_id=None, app_key="x", tracks=tracks, control=control)
    inj.start("c1", "av")
    body = b"<media_control><vc_primitive><to_encoder><picture_fast_update/></to_encoder>"
    env.calls.on_sip_event(ev.InfoReceived("c1", "application/media_control+xml", body))
    assert asked == [1, 1]  # at the switch, then for the peer


def test_a_vp8_stream_goes_in_as_the_h264_its_frame_sinks_get() -> None:
    """A VP8 stream's frames are H.264 (its publisher's shared transcoder, started by a frame
    sink that wants video): those go into the call, its VP8 packets do not; the peer's
    keyframe requests reach the publisher; an audio-only call starts no transcoder."""
    env, media, hub, inj = setup()
    media.video = True
    tracks = {"video": TrackInfo("video", "VP8", 90000), "audio": TrackInfo("audio", "opus", 48000)}
    tracks["video"].frame_codec = "H264"
    wanted: list[bool] = []
    asked: list[int] = []
    control = PublisherControl(request_keyframe=lambda: asked.append(1), video_frames=wanted.append)
    pub = hub.publish("vp8", call_id=None, app_key="x", tracks=tracks, control=control)
    inj.start("c1", "vp8")
    injection = inj.of("c1")
    assert injection is not None and injection.frames and media.video_on
    assert wanted == [True] and asked == [1]  # the transcoder runs; a keyframe at the switch
    idr = AccessUnit(90, [bytes([0x67, 0x42]), bytes([0x65, 0x88])], keyframe=True)
    pub.feed_video(idr, 1.0)
    pub.feed_rtp("video", b"vp8 packet", 90)
    assert media.forwarded == [idr]
    body = b"<media_control><vc_primitive><to_encoder><picture_fast_update/></to_encoder>"
    env.calls.on_sip_event(ev.InfoReceived("c1", "application/media_control+xml", body))
    assert asked == [1, 1]
    media.video = False
    hub.publish("vp8b", call_id=None, app_key="x", tracks=tracks, control=control)
    inj.start("c1", "vp8b")  # no H.264 in the call: its frames without video
    injection = inj.of("c1")
    assert injection is not None and not injection.frames and not injection.sends_video
    assert wanted == [True, False] and not media.video_on  # the first injection's ended
