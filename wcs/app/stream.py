"""One named stream as its users see it: status, tracks, subscriptions, the late-joiner cache.

The hub (:mod:`wcs.app.streams`) creates and ends streams; the publisher feeds one through its
:class:`wcs.app.streams.Publication`. The ``_feed_*``, ``_set_tracks`` and ``_end`` methods are
that handle's and the hub's, nobody else's.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from wcs.media.audio import AudioFrame
from wcs.media.gop import GopCache, parameter_sets
from wcs.media.h264.nal import AccessUnit

log = logging.getLogger("wcs.app.streams")

T = TypeVar("T")


class StreamStatus(enum.StrEnum):
    PENDING = "PENDING"
    PUBLISHING = "PUBLISHING"
    UNPUBLISHED = "UNPUBLISHED"
    PLAYING = "PLAYING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


@dataclass(slots=True)
class TrackInfo:
    kind: str  # "audio" | "video"
    codec: str  # "PCMU", "PCMA", "opus", "H264"
    clock_rate: int
    channels: int = 1
    fmtp: str | None = None
    payload_type: int = 0  # as received
    sps: bytes | None = None
    pps: bytes | None = None
    width: int | None = None
    height: int | None = None
    generated: bool = False  # black video / silence made by us (generate_av)
    # The codec of the stream's frames when it is not the packets' (a VP8 publisher: its
    # frames are H.264 transcoded for RTMP, recordings and HLS); None: ``codec``.
    frame_codec: str | None = None


class PacketSink(Protocol):
    def on_rtp(self, kind: str, packet: bytes) -> None: ...
    def on_stream_end(self, reason: str) -> None: ...


class FrameSink(Protocol):
    def on_video(self, au: AccessUnit, pts_ms: float) -> None: ...
    def on_audio(self, frame: AudioFrame, pts_ms: float) -> None: ...
    def on_stream_end(self, reason: str) -> None: ...


class Subscription:
    """What a subscribe/watch call returns; ``cancel()`` detaches (idempotent)."""

    __slots__ = ("_remove", "cancelled")

    def __init__(self, remove: Callable[[], None] | None = None) -> None:
        self._remove = remove
        self.cancelled = remove is None

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            if self._remove is not None:
                self._remove()


# Per-kind receive statistics of the publisher (RTP session snapshots: JSON-ready values).
StatsProvider = Callable[[], dict[str, dict[str, Any]]]
StreamCallback = Callable[["Stream"], None]


@dataclass(frozen=True, slots=True)
class PublisherControl:
    """What the publisher offers the stream's users; each part is optional."""

    stats: StatsProvider | None = None
    # Ask the sender for a keyframe (the call rate-limits: PLI, then FIR, then SIP INFO).
    request_keyframe: Callable[[], None] | None = None
    # /stream/terminate (a call's stream hangs the call up); None: just unpublish.
    terminate: Callable[[], None] | None = None
    # Called with True when the first frame sink that wants video subscribes and with
    # False when the last one leaves: a publisher whose frames are transcoded (VP8 → H.264)
    # runs the transcoder only while someone needs it.
    video_frames: Callable[[bool], None] | None = None


class CallbackSet(Generic[T]):
    """Copy-on-write subscribers (sinks or callbacks): a delivery loop iterating ``items``
    is never disturbed by a subscribe or cancel made from inside it."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: tuple[T, ...] = ()

    def add(self, item: T) -> Subscription:
        self.items = (*self.items, item)
        return Subscription(lambda: self.remove(item))

    def remove(self, item: T) -> None:
        self.items = tuple(i for i in self.items if i is not item)

    def clear(self) -> tuple[T, ...]:
        items, self.items = self.items, ()
        return items


class Stream:
    """One named stream as its users see it: state, tracks, subscriptions."""

    def __init__(
        self,
        name: str,
        *,
        call_id: str | None,
        app_key: str,
        control: PublisherControl,
        tracks: Mapping[str, TrackInfo] | None = None,
        provider: str = "SIP",
        session_id: str | None = None,
        media_session_id: str | None = None,
    ) -> None:
        self.name = name
        self.media_session_id = media_session_id or str(uuid.uuid4())
        self.provider = provider
        self.session_id = session_id
        self.call_id = call_id
        self.app_key = app_key
        self.created = time.time()
        self._status = StreamStatus.PUBLISHING
        self._info: str | None = None
        self._tracks: dict[str, TrackInfo] = dict(tracks or {})
        self._control = control
        self._packet_sinks: CallbackSet[PacketSink] = CallbackSet()
        self._frame_sinks: CallbackSet[FrameSink] = CallbackSet()
        self._track_watchers: CallbackSet[StreamCallback] = CallbackSet()
        self._tracks_ready: asyncio.Event | None = None
        self._gop = GopCache()
        # Packets join the late-joiner cache only when they are H.264 like the frames;
        # a VP8 stream's cache holds its (transcoded) frames alone.
        self._gop_packets = _is_h264(self._tracks)
        self._video_demand = 0  # frame sinks that want video
        self._keyframes = 0
        self._frames = {"audio": 0, "video": 0}
        self._last_rtp: dict[str, bytes] = {}

    # ------------------------------------------------------------------ state
    @property
    def status(self) -> StreamStatus:
        return self._status

    @property
    def info(self) -> str | None:
        return self._info

    @property
    def published(self) -> bool:
        return self._status is StreamStatus.PUBLISHING

    @property
    def tracks(self) -> Mapping[str, TrackInfo]:
        return self._tracks

    @property
    def keyframes(self) -> int:
        """Keyframes fed so far."""
        return self._keyframes

    @property
    def frames(self) -> Mapping[str, int]:
        """Frames fed so far, by kind."""
        return self._frames

    @property
    def subscribers(self) -> int:
        return len(self._packet_sinks.items) + len(self._frame_sinks.items)

    @property
    def cached_keyframe(self) -> AccessUnit | None:
        return self._gop.keyframe

    def cached_packets(self) -> list[bytes]:
        """The video packets since the last keyframe (what a new packet sink starts with)."""
        return self._gop.packets() if self._gop_packets else []

    def last_packet(self, kind: str) -> bytes | None:
        """The last RTP packet of ``kind`` received (RTSP starts a new player's audio with
        it, so the RTP-Info of its PLAY names a packet the player gets)."""
        return self._last_rtp.get(kind)

    def stats(self) -> dict[str, dict[str, Any]]:
        """The publisher's per-kind receive statistics ({} when it offers none)."""
        provider = self._control.stats
        return provider() if provider is not None else {}

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (it rate-limits: PLI, then FIR, then SIP INFO)."""
        if self._control.request_keyframe is not None:
            self._control.request_keyframe()

    # ------------------------------------------------------------------ tracks
    def watch_tracks(self, callback: StreamCallback) -> Subscription:
        """``callback(stream)`` whenever the tracks change (learnt late, SPS seen, added)."""
        return self._track_watchers.add(callback)

    async def wait_tracks(self, timeout: float | None = None) -> Mapping[str, TrackInfo]:
        """The tracks, waiting until the publisher knows them (a viewer may come first)."""
        if not self._tracks:
            if self._tracks_ready is None:
                self._tracks_ready = asyncio.Event()
            await asyncio.wait_for(self._tracks_ready.wait(), timeout)
        return self._tracks

    def _set_tracks(self, tracks: Mapping[str, TrackInfo]) -> None:
        self._tracks = dict(tracks)
        self._gop_packets = _is_h264(self._tracks)
        self._tracks_changed()

    def _tracks_changed(self) -> None:
        if self._tracks_ready is not None:
            self._tracks_ready.set()
        for callback in self._track_watchers.items:
            try:
                callback(self)
            except Exception:
                log.exception("stream %s: track watcher failed", self.name)

    # ------------------------------------------------------------------ subscribe
    def subscribe_packets(self, sink: PacketSink) -> Subscription:
        """Attach a packet sink; it first gets the video since the last keyframe."""
        for packet in self.cached_packets():
            try:
                sink.on_rtp("video", packet)
            except Exception:
                log.exception("stream %s: packet sink failed; unsubscribed", self.name)
                return Subscription()
        return self._packet_sinks.add(sink)

    def subscribe_frames(self, sink: FrameSink, *, video: bool = True) -> Subscription:
        """Attach a frame sink; it first gets the access units since the last keyframe.

        ``video=False``: the sink ignores video (an audio stage), so it never makes the
        publisher transcode video for it (:attr:`PublisherControl.video_frames`)."""
        if video:
            self._want_video(1)  # first: a transcoder asks its publisher for a keyframe
        for au, pts in self._gop.frames():
            try:
                sink.on_video(au, pts)
            except Exception:
                log.exception("stream %s: frame sink failed; unsubscribed", self.name)
                if video:
                    self._want_video(-1)
                return Subscription()
        added = self._frame_sinks.add(sink)
        if not video:
            return added

        def remove() -> None:
            added.cancel()
            self._want_video(-1)

        return Subscription(remove)

    def _want_video(self, delta: int) -> None:
        before = self._video_demand
        self._video_demand = max(0, before + delta)
        wanted = self._video_demand > 0
        if wanted == (before > 0):
            return
        if not wanted and not self._gop_packets:
            self._gop.clear()  # transcoded frames stop now: none of them may be replayed
        callback = self._control.video_frames
        if callback is not None and self._status is StreamStatus.PUBLISHING:
            try:
                callback(wanted)
            except Exception:
                log.exception("stream %s: video_frames callback failed", self.name)

    # ------------------------------------------------------------------ feed (via Publication)
    def _feed_rtp(self, kind: str, packet: bytes, timestamp: int) -> None:
        gop = self._gop_packets
        if kind == "video" and gop and not self._gop.add_packet(packet, timestamp):
            self.request_keyframe()
        self._last_rtp[kind] = packet
        for sink in self._packet_sinks.items:
            try:
                sink.on_rtp(kind, packet)
            except Exception:
                log.exception("stream %s: packet sink %r failed; unsubscribed", self.name, sink)
                self._packet_sinks.remove(sink)

    def _feed_video(self, au: AccessUnit, pts_ms: float) -> None:
        self._frames["video"] += 1
        if au.keyframe:
            self._keyframes += 1
        if not self._gop.add_frame(au, pts_ms):
            self.request_keyframe()
        if au.keyframe:
            self._learn_parameter_sets(au)
        for sink in self._frame_sinks.items:
            try:
                sink.on_video(au, pts_ms)
            except Exception:
                self._drop_frame_sink(sink)

    def _feed_audio(self, frame: AudioFrame, pts_ms: float) -> None:
        self._frames["audio"] += 1
        for sink in self._frame_sinks.items:
            try:
                sink.on_audio(frame, pts_ms)
            except Exception:
                self._drop_frame_sink(sink)

    def _drop_frame_sink(self, sink: FrameSink) -> None:
        log.exception("stream %s: frame sink %r failed; unsubscribed", self.name, sink)
        self._frame_sinks.remove(sink)

    def _learn_parameter_sets(self, au: AccessUnit) -> None:
        track = self._tracks.get("video")
        if track is None:
            return
        sps, pps = parameter_sets(au)
        if sps is not None and pps is not None and (sps, pps) != (track.sps, track.pps):
            track.sps, track.pps = sps, pps
            try:
                from wcs.media.h264.sps import parse_sps

                info = parse_sps(sps)
                track.width, track.height = info.width, info.height
            except ValueError:
                pass
            self._tracks_changed()

    # ------------------------------------------------------------------ end
    def _end(self, status: StreamStatus, reason: str) -> None:
        """Every subscriber gets ``on_stream_end``; the stream takes the final status."""
        self._status = status
        self._info = reason
        sinks: list[PacketSink | FrameSink] = [
            *self._packet_sinks.clear(),
            *self._frame_sinks.clear(),
        ]
        self._track_watchers.clear()
        for sink in sinks:
            try:
                sink.on_stream_end(reason)
            except Exception:
                log.exception("stream %s: sink failed in on_stream_end", self.name)
        self._gop.clear()
        self._last_rtp.clear()

    def _terminate(self) -> bool:
        """/stream/terminate through the publisher; False when it offers none."""
        if self._control.terminate is None:
            return False
        self._control.terminate()
        return True


def _is_h264(tracks: Mapping[str, TrackInfo]) -> bool:
    video = tracks.get("video")
    return video is None or video.codec.upper() == "H264"
