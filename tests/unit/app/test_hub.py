"""StreamHub, Publication and Stream: publish/unpublish, subscribers, watchers, late joiners,
failing sinks."""

from __future__ import annotations

from typing import Any

import pytest

from wcs.app.streams import (
    Publication,
    PublisherControl,
    Stream,
    StreamExists,
    StreamHub,
    StreamStatus,
    TrackInfo,
)
from wcs.media.audio import AudioFrame
from wcs.media.h264 import AccessUnit
from wcs.rest.views import stream_json

SPS = bytes.fromhex("6742c00bda0507e8400000030040000005")
PPS = bytes.fromhex("68ce0fc8")
IDR = b"\x65\x88\x84"
P = b"\x41\x9a\x02"


def rtp(seq: int, ts: int, payload: bytes, marker: bool = True) -> bytes:
    return (
        bytes([0x80, (0x80 if marker else 0) | 97])
        + seq.to_bytes(2, "big")
        + ts.to_bytes(4, "big")
        + b"\x00\x00\x00\x01"
        + payload
    )


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.packets: list[tuple[str, bytes]] = []
        self.video: list[tuple[AccessUnit, float]] = []
        self.audio: list[AudioFrame] = []
        self.ended: list[str] = []

    def on_rtp(self, kind: str, packet: bytes) -> None:
        if self.fail:
            raise RuntimeError("broken sink")
        self.packets.append((kind, packet))

    def on_video(self, au: AccessUnit, pts_ms: float) -> None:
        if self.fail:
            raise RuntimeError("broken sink")
        self.video.append((au, pts_ms))

    def on_audio(self, frame: AudioFrame, pts_ms: float) -> None:
        self.audio.append(frame)

    def on_stream_end(self, reason: str) -> None:
        self.ended.append(reason)


class Hooks:
    def __init__(self) -> None:
        self.posted: list[tuple[str | None, str, dict[str, Any]]] = []

    def post(self, app_key: str | None, method: str, body: dict[str, Any]) -> None:
        self.posted.append((app_key, method, body))


def feed_picture(pub: Publication, seq: int, ts: int, key: bool, pts: float) -> None:
    if key:
        pub.feed_rtp("video", rtp(seq, ts, IDR), ts)
        pub.feed_video(AccessUnit(ts, [SPS, PPS, IDR], keyframe=True), pts)
    else:
        pub.feed_rtp("video", rtp(seq, ts, P), ts)
        pub.feed_video(AccessUnit(ts, [P]), pts)


def publish(control: PublisherControl | None = None, call_id: str | None = None) -> Publication:
    return StreamHub().publish("cam", call_id=call_id, app_key="a", control=control)


def test_publish_conflict_find_unpublish_and_events() -> None:
    hooks = Hooks()
    hub = StreamHub(hooks)  # type: ignore[arg-type]
    seen: list[str] = []
    watch = hub.watch(lambda s: seen.append(s.status.value))
    pub = hub.publish("cam", call_id="c1", app_key="app")
    s = pub.stream
    with pytest.raises(StreamExists):
        hub.publish("cam", call_id="c2", app_key="app")
    assert hub.get("cam") is s and hub.by_session(s.media_session_id) is s
    assert hub.find(name="cam") == [s] and hub.find(name="other") == []
    assert hub.find(published=False) == [] and hub.find(status="publishing") == [s]
    assert s.published and pub.live
    sink = Sink()
    s.subscribe_frames(sink)
    pub.unpublish("Normal call clearing")
    pub.unpublish("twice")  # idempotent: no second event
    assert sink.ended == ["Normal call clearing"]
    assert hub.get("cam") is None and s.status is StreamStatus.UNPUBLISHED
    assert s.info == "Normal call clearing" and not pub.live
    assert seen == ["PUBLISHING", "UNPUBLISHED"]
    assert [(m, b["status"]) for _, m, b in hooks.posted] == [
        ("StreamStatusEvent", "PUBLISHING"),
        ("StreamStatusEvent", "UNPUBLISHED"),
    ]
    # The name is free again; a cancelled watch hears nothing more.
    watch.cancel()
    again = hub.publish("cam", call_id=None, app_key="app")
    assert again.stream.name == "cam" and seen == ["PUBLISHING", "UNPUBLISHED"]
    # The old handle cannot end the new stream of the same name.
    pub.unpublish("stale")
    assert hub.get("cam") is again.stream


def test_unpublish_with_a_final_status() -> None:
    hub = StreamHub()
    pub = hub.publish("cam", call_id=None, app_key="a")
    pub.unpublish("RTP activity lost", StreamStatus.FAILED)
    assert pub.stream.status is StreamStatus.FAILED and hub.all() == []


def test_late_joiner_gets_the_gop_since_the_last_keyframe() -> None:
    pub = publish()
    s = pub.stream
    pub.set_tracks({"video": TrackInfo("video", "H264", 90000)})
    feed_picture(pub, 1, 0, False, 0)  # before any keyframe: not cached
    feed_picture(pub, 2, 3000, True, 33)
    feed_picture(pub, 3, 6000, False, 66)
    late = Sink()
    s.subscribe_packets(late)
    s.subscribe_frames(late)
    # SPS/PPS in a STAP-A first (the IDR's packets lacked them), the IDR, the P picture.
    assert [p[12] for _, p in late.packets] == [24, IDR[0], P[0]]
    assert [au.keyframe for au, _ in late.video] == [True, False]
    assert s.cached_keyframe is not None and s.cached_keyframe.timestamp == 3000
    assert s.keyframes == 1 and s.frames == {"audio": 0, "video": 3}
    # The keyframe told the track its SPS/PPS and size.
    video = s.tracks["video"]
    assert video.sps == SPS and (video.width, video.height) == (320, 240)
    # A new keyframe restarts the cache.
    feed_picture(pub, 4, 9000, True, 99)
    later = Sink()
    s.subscribe_packets(later)
    assert [p[12] for _, p in later.packets] == [24, IDR[0]]


def test_track_watchers_hear_changes_until_cancelled() -> None:
    pub = publish()
    seen: list[set[str]] = []
    sub = pub.stream.watch_tracks(lambda s: seen.append(set(s.tracks)))
    pub.set_tracks({"audio": TrackInfo("audio", "PCMU", 8000)})
    pub.update_track(TrackInfo("video", "H264", 90000))
    sub.cancel()
    pub.set_tracks({})
    assert seen == [{"audio"}, {"audio", "video"}]


def test_a_failing_sink_is_dropped_and_the_others_continue() -> None:
    pub = publish()
    s = pub.stream
    bad, good = Sink(fail=True), Sink()
    s.subscribe_packets(bad)
    s.subscribe_packets(good)
    s.subscribe_frames(bad)
    s.subscribe_frames(good)
    for i in range(3):
        feed_picture(pub, i, i * 3000, i == 0, i * 33.0)
    assert len(good.packets) == 3 and len(good.video) == 3
    assert s.subscribers == 2
    pub.unpublish("bye")
    assert good.ended == ["bye", "bye"] and bad.ended == []
    assert s.subscribers == 0


def test_subscription_cancel_and_keyframe_request() -> None:
    asked: list[int] = []
    pub = publish(PublisherControl(request_keyframe=lambda: asked.append(1)))
    sink = Sink()
    sub = pub.stream.subscribe_packets(sink)
    sub.cancel()
    sub.cancel()
    assert sub.cancelled
    feed_picture(pub, 1, 0, False, 0)
    assert sink.packets == []
    pub.stream.request_keyframe()
    assert asked == [1]


def test_terminate_uses_the_publishers_terminate() -> None:
    hub = StreamHub()
    calls: list[str] = []
    control = PublisherControl(terminate=lambda: calls.append("hangup"))
    pub = hub.publish("cam", call_id="c1", app_key="a", control=control)
    hub.terminate(pub.stream)
    assert calls == ["hangup"] and hub.get("cam") is pub.stream  # the call's end unpublishes
    plain = hub.publish("plain", call_id=None, app_key="a")
    hub.terminate(plain.stream)
    assert hub.get("plain") is None and plain.stream.info == "Terminated by REST"


def test_stream_json_uses_the_publishers_stats() -> None:
    stats = {
        "audio": {"packets": 100, "lost": 1, "bitrate": 64000.0},
        "video": {"packets": 50, "lost": 2, "bitrate": 250000.0},
    }
    pub = publish(PublisherControl(stats=lambda: stats), call_id="c1")
    pub.set_tracks(
        {
            "audio": TrackInfo("audio", "PCMA", 8000),
            "video": TrackInfo("video", "H264", 90000, width=352, height=288),
        }
    )
    j = stream_json(pub.stream)
    assert j["published"] is True and j["status"] == "PUBLISHING"
    assert (j["audioCodec"], j["videoCodec"], j["width"], j["height"]) == ("PCMA", "H264", 352, 288)
    assert (j["packetsReceived"], j["packetsLost"], j["bitrate"], j["audioBitrate"]) == (
        150,
        3,
        250,
        64,
    )


@pytest.mark.asyncio
async def test_wait_tracks_wakes_a_viewer_that_came_first() -> None:
    import asyncio

    pub = publish()
    waiter = asyncio.ensure_future(pub.stream.wait_tracks(timeout=5))
    await asyncio.sleep(0)
    pub.set_tracks({"audio": TrackInfo("audio", "PCMU", 8000)})
    assert set(await waiter) == {"audio"}


def test_the_publishing_event_carries_the_tracks() -> None:
    hooks = Hooks()
    hub = StreamHub(hooks)  # type: ignore[arg-type]
    hub.publish(
        "cam", call_id="c1", app_key="app", tracks={"audio": TrackInfo("audio", "PCMU", 8000)}
    )
    ((app, method, body),) = hooks.posted
    assert (app, method, body["audioCodec"], body["hasVideo"]) == (
        "app",
        "StreamStatusEvent",
        "PCMU",
        False,
    )


def test_stream_is_read_only_for_its_users() -> None:
    s: Stream = publish().stream
    assert not hasattr(s, "feed_rtp") and not hasattr(s, "set_tracks")
