"""A VP8 stream: frame sinks that want video switch the publisher's transcoder on and off,
the stage's H.264 reaches them on the loop, its packets never reach the late-joiner cache,
and a full queue drops (counted) and waits for a key frame."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from tests.unit.media.test_vp8 import vp8_frames
from wcs.app.streams import PublisherControl, StreamHub, TrackInfo
from wcs.app.vp8_stage import DROPPED, Vp8Stage
from wcs.media.audio import AudioFrame
from wcs.media.h264.nal import AccessUnit

pytestmark = pytest.mark.asyncio


class Frames:
    def __init__(self) -> None:
        self.video: list[tuple[AccessUnit, float]] = []

    def on_video(self, au: AccessUnit, pts_ms: float) -> None:
        self.video.append((au, pts_ms))

    def on_audio(self, frame: AudioFrame, pts_ms: float) -> None:
        pass

    def on_stream_end(self, reason: str) -> None:
        pass


def vp8_stream(wanted: list[bool]) -> Any:
    hub = StreamHub()
    tracks = {
        "video": TrackInfo("video", "VP8", 90000, 1, None, 96, frame_codec="H264"),
        "audio": TrackInfo("audio", "opus", 48000, 2, None, 111),
    }
    control = PublisherControl(video_frames=wanted.append)
    return hub.publish("v", call_id=None, app_key="a", tracks=tracks, control=control)


async def test_video_demand_follows_the_frame_sinks() -> None:
    wanted: list[bool] = []
    pub = vp8_stream(wanted)
    stream = pub.stream
    audio_only = stream.subscribe_frames(Frames(), video=False)
    assert wanted == []  # an audio stage never makes anyone transcode
    a = stream.subscribe_frames(Frames())
    b = stream.subscribe_frames(Frames())
    assert wanted == [True]
    a.cancel()
    a.cancel()  # idempotent: counted once
    assert wanted == [True]
    b.cancel()
    assert wanted == [True, False]
    audio_only.cancel()
    # VP8 packets are never cached for late joiners as if they were H.264.
    pub.feed_rtp("video", b"\x80\x60" + bytes(14), 1000)
    assert stream.cached_packets() == []


class Stuck:
    """A transcoder that blocks its thread until released."""

    def __init__(self, keyframe_interval: float) -> None:
        self.release = threading.Event()

    def feed(self, frame: bytes, keyframe: bool, pts_ms: float) -> list[Any]:
        self.release.wait(10)
        return []


async def test_stage_transcodes_only_while_active_and_counts_drops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wanted: list[bool] = []
    pub = vp8_stream(wanted)
    keyframe_requests: list[int] = []
    stage = Vp8Stage(pub, "v", lambda: keyframe_requests.append(1), queue_limit=1000)
    frames = vp8_frames(20)
    sink = Frames()

    def feed_all(start: int) -> None:
        for n, (data, key) in enumerate(frames):
            stage.feed_video(AccessUnit(n * 3600, [data], keyframe=key), start + n * 40.0)

    feed_all(0)  # nobody wants video: nothing is transcoded
    assert sink.video == [] and not stage.active
    sub = pub.stream.subscribe_frames(sink)
    stage.set_active(wanted[-1])
    assert stage.active and keyframe_requests == [1]  # the decoder starts at a key frame
    feed_all(1000)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while len(sink.video) < 20 and loop.time() < deadline:
        await asyncio.sleep(0.05)
    assert len(sink.video) == 20
    assert sink.video[0][0].keyframe and round(sink.video[0][1]) == 1000
    assert pub.stream.tracks["video"].width == 160  # learnt from the H.264 SPS
    sub.cancel()
    stage.set_active(wanted[-1])
    assert not stage.active

    # A queue of one behind a stuck thread: what does not fit is dropped, counted, and
    # the stage waits for a key frame it asks for (frames 0 and 1 went in at most).
    monkeypatch.setattr("wcs.app.vp8_stage.Vp8ToH264", Stuck)
    small = Vp8Stage(pub, "v", lambda: keyframe_requests.append(2), queue_limit=1)
    small.set_active(True)
    stuck = small._transcoder
    assert isinstance(stuck, Stuck)
    before = DROPPED.value
    for n, (data, key) in enumerate(frames):
        small.feed_video(AccessUnit(n, [data], keyframe=key), n * 40.0)
    assert small.dropped >= 1 and DROPPED.value - before == small.dropped
    assert keyframe_requests.count(2) == 2  # at the start; after the first drop (then waits)
    stuck.release.set()
    small.close()
    stage.close()
