"""StreamHub and Stream: publish/unpublish, subscribers, late joiners, failing sinks."""

from __future__ import annotations

from typing import Any

import pytest

from wcs.app.streams import Stream, StreamExists, StreamHub, StreamStatus, TrackInfo
from wcs.media.audio import AudioFrame
from wcs.media.h264 import AccessUnit

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


def feed_picture(stream: Stream, seq: int, ts: int, key: bool, pts: float) -> None:
    if key:
        stream.feed_rtp("video", rtp(seq, ts, IDR), ts)
        stream.feed_video(AccessUnit(ts, [SPS, PPS, IDR], keyframe=True), pts)
    else:
        stream.feed_rtp("video", rtp(seq, ts, P), ts)
        stream.feed_video(AccessUnit(ts, [P]), pts)


def test_publish_conflict_find_unpublish_and_events() -> None:
    hooks = Hooks()
    hub = StreamHub(hooks)  # type: ignore[arg-type]
    seen: list[str] = []
    hub.listeners.append(lambda s: seen.append(s.status.value))
    s = hub.publish("cam", call_id="c1", app_key="app")
    with pytest.raises(StreamExists):
        hub.publish("cam", call_id="c2", app_key="app")
    assert hub.get("cam") is s and hub.by_session(s.media_session_id) is s
    assert hub.find(name="cam") == [s] and hub.find(name="other") == []
    assert hub.find(published=False) == [] and hub.find(status="publishing") == [s]
    sink = Sink()
    s.subscribe_frames(sink)
    hub.unpublish("cam", "Normal call clearing")
    assert sink.ended == ["Normal call clearing"]
    assert hub.get("cam") is None and s.status is StreamStatus.UNPUBLISHED
    assert seen == ["PUBLISHING", "UNPUBLISHED"]
    assert [(m, b["status"]) for _, m, b in hooks.posted] == [
        ("StreamStatusEvent", "PUBLISHING"),
        ("StreamStatusEvent", "UNPUBLISHED"),
    ]
    # The name is free again.
    assert hub.publish("cam", call_id=None, app_key="app").name == "cam"


def test_late_joiner_gets_the_gop_since_the_last_keyframe() -> None:
    s = Stream("cam", call_id=None, app_key="a")
    s.set_tracks({"video": TrackInfo("video", "H264", 90000)})
    feed_picture(s, 1, 0, False, 0)  # before any keyframe: not cached
    feed_picture(s, 2, 3000, True, 33)
    feed_picture(s, 3, 6000, False, 66)
    late = Sink()
    s.subscribe_packets(late)
    s.subscribe_frames(late)
    # SPS/PPS in a STAP-A first (the IDR's packets lacked them), the IDR, the P picture.
    assert [p[12] for _, p in late.packets] == [24, IDR[0], P[0]]
    assert [au.keyframe for au, _ in late.video] == [True, False]
    assert s.cached_keyframe is not None and s.cached_keyframe.timestamp == 3000
    # The keyframe told the track its SPS/PPS and size.
    assert s.tracks["video"].sps == SPS and (s.tracks["video"].width, s.tracks["video"].height) == (
        320,
        240,
    )
    # A new keyframe restarts the cache.
    feed_picture(s, 4, 9000, True, 99)
    later = Sink()
    s.subscribe_packets(later)
    assert [p[12] for _, p in later.packets] == [24, IDR[0]]


def test_keyframe_packets_get_parameter_sets_when_only_the_sdp_had_them() -> None:
    s = Stream("cam", call_id=None, app_key="a")
    feed_picture(s, 10, 0, True, 0)
    sink = Sink()
    s.subscribe_packets(sink)
    first = sink.packets[0][1]
    assert first[12] == 24  # STAP-A with SPS + PPS, in front of the IDR
    assert int.from_bytes(first[2:4], "big") == 9 and first[1] & 0x80 == 0
    assert SPS in first and PPS in first
    assert sink.packets[1][1][12:] == IDR


def test_a_failing_sink_is_dropped_and_the_others_continue() -> None:
    s = Stream("cam", call_id=None, app_key="a")
    bad, good = Sink(fail=True), Sink()
    s.subscribe_packets(bad)
    s.subscribe_packets(good)
    s.subscribe_frames(bad)
    s.subscribe_frames(good)
    for i in range(3):
        feed_picture(s, i, i * 3000, i == 0, i * 33.0)
    assert len(good.packets) == 3 and len(good.video) == 3
    assert s.subscribers == 2
    s.end(StreamStatus.UNPUBLISHED, "bye")
    assert good.ended == ["bye", "bye"] and bad.ended == []


def test_subscription_close_and_keyframe_request() -> None:
    s = Stream("cam", call_id=None, app_key="a")
    asked: list[int] = []
    s.keyframe_requester = lambda: asked.append(1)
    sink = Sink()
    sub = s.subscribe_packets(sink)
    sub.close()
    sub.close()
    feed_picture(s, 1, 0, False, 0)
    assert sink.packets == []
    s.request_keyframe()
    assert asked == [1]


def test_terminate_uses_the_terminator_and_extra_entries() -> None:
    hub = StreamHub()
    s = hub.publish("cam", call_id="c1", app_key="a")
    calls: list[str] = []
    s.terminator = lambda: calls.append("hangup")
    hub.terminate(s)
    assert calls == ["hangup"] and hub.get("cam") is s  # the call's end unpublishes it

    class Viewer:
        def to_json(self) -> dict[str, Any]:
            return {"name": "cam", "published": False, "status": "PLAYING"}

    v = Viewer()
    hub.add_entry(v)
    assert hub.entries == [v]
    hub.remove_entry(v)
    hub.remove_entry(v)
    assert hub.entries == []


def test_to_json_uses_the_stats_provider() -> None:
    s = Stream("cam", call_id="c1", app_key="a")
    s.set_tracks(
        {
            "audio": TrackInfo("audio", "PCMA", 8000),
            "video": TrackInfo("video", "H264", 90000, width=352, height=288),
        }
    )
    s.stats_provider = lambda: {
        "audio": {"packets": 100, "lost": 1, "bitrate": 64000.0},
        "video": {"packets": 50, "lost": 2, "bitrate": 250000.0},
    }
    j = s.to_json()
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

    s = Stream("cam", call_id=None, app_key="a")
    waiter = asyncio.ensure_future(s.wait_tracks(timeout=5))
    await asyncio.sleep(0)
    s.set_tracks({"audio": TrackInfo("audio", "PCMU", 8000)})
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
