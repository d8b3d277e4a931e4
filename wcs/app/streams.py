"""The stream hub: named streams, their tracks, publish/subscribe, status and statistics.

A publisher (a SIP call with ``toStream``) calls :meth:`StreamHub.publish` and gets a
:class:`Publication`: the one handle that feeds the stream RTP packets
(:meth:`Publication.feed_rtp`) and depacketized frames (:meth:`Publication.feed_video`,
:meth:`Publication.feed_audio`), updates its tracks and unpublishes it. What the publisher
offers its subscribers (receive statistics, keyframe requests, what /stream/terminate does)
is a :class:`PublisherControl` given at publish time.

Everyone else reads a :class:`Stream` and subscribes at two levels, each returning a
:class:`Subscription` (``cancel()``):

* packet sinks (WebRTC viewers) get RTP as received (after the jitter buffer when on);
* frame sinks (RTMP, recorders) get undamaged access units and audio frames with a pts on the
  stream's shared media clock.

Sinks are called synchronously on the receive path, so by contract they never block; a sink
that raises is logged once and unsubscribed, so one bad subscriber cannot hurt the others or
the call. Status changes of the hub's streams go to :meth:`StreamHub.watch` callbacks and,
as ``StreamStatusEvent`` hooks, to the hook publisher given at construction.

Late joiners start decodable: the stream keeps the video since the last keyframe
(:class:`wcs.media.gop.GopCache`) and hands it to a new subscriber first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from wcs.app.hooks import HookPublisher
from wcs.app.stream import (
    CallbackSet,
    FrameSink,
    PacketSink,
    PublisherControl,
    Stream,
    StreamCallback,
    StreamStatus,
    Subscription,
    TrackInfo,
)
from wcs.media.audio import AudioFrame
from wcs.media.h264.nal import AccessUnit
from wcs.rest.views import stream_json

log = logging.getLogger(__name__)


class StreamExists(Exception):
    """A stream of that name is already published (REST 409)."""

    status = 409


class Publication:
    """The publisher's handle on its stream: feed it, update its tracks, unpublish it."""

    __slots__ = ("_hub", "stream")

    def __init__(self, hub: StreamHub, stream: Stream) -> None:
        self._hub = hub
        self.stream = stream

    @property
    def live(self) -> bool:
        return self.stream.published

    def feed_rtp(self, kind: str, packet: bytes, timestamp: int) -> None:
        """One RTP packet as received (``timestamp``: its RTP timestamp, already parsed)."""
        self.stream._feed_rtp(kind, packet, timestamp)

    def feed_video(self, au: AccessUnit, pts_ms: float) -> None:
        """An undamaged access unit; a keyframe restarts the late-joiner cache."""
        self.stream._feed_video(au, pts_ms)

    def feed_audio(self, frame: AudioFrame, pts_ms: float) -> None:
        self.stream._feed_audio(frame, pts_ms)

    def set_tracks(self, tracks: Mapping[str, TrackInfo]) -> None:
        self.stream._set_tracks(tracks)

    def update_track(self, track: TrackInfo) -> None:
        self.stream._set_tracks({**self.stream.tracks, track.kind: track})

    def unpublish(self, reason: str, status: StreamStatus = StreamStatus.UNPUBLISHED) -> None:
        """Idempotent; subscribers get ``on_stream_end``, watchers the final status."""
        self._hub._unpublish(self.stream, reason, status)


class StreamHub:
    """Every published stream by name."""

    def __init__(self, hooks: HookPublisher | None = None) -> None:
        self._hooks = hooks
        self._streams: dict[str, Stream] = {}
        self._watchers: CallbackSet[StreamCallback] = CallbackSet()

    def publish(
        self,
        name: str,
        *,
        call_id: str | None,
        app_key: str,
        tracks: Mapping[str, TrackInfo] | None = None,
        control: PublisherControl | None = None,
    ) -> Publication:
        """A new PUBLISHING stream (``tracks`` when known, so the status event carries them)."""
        if name in self._streams:
            raise StreamExists(f"stream {name!r} is already published")
        control = control or _NO_CONTROL
        stream = Stream(name, call_id=call_id, app_key=app_key, control=control, tracks=tracks)
        self._streams[name] = stream
        log.info("stream %s: PUBLISHING (%s)", name, stream.media_session_id)
        self._changed(stream)
        return Publication(self, stream)

    def watch(self, callback: StreamCallback) -> Subscription:
        """``callback(stream)`` on every status change of every stream (published, ended)."""
        return self._watchers.add(callback)

    def get(self, name: str) -> Stream | None:
        return self._streams.get(name)

    def by_session(self, media_session_id: str) -> Stream | None:
        for stream in self._streams.values():
            if stream.media_session_id == media_session_id:
                return stream
        return None

    def all(self) -> list[Stream]:
        return list(self._streams.values())

    def find(
        self,
        *,
        name: str | None = None,
        media_session_id: str | None = None,
        media_session_ids: list[str] | None = None,
        published: bool | None = None,
        status: str | None = None,
    ) -> list[Stream]:
        out = []
        for s in self._streams.values():
            if name is not None and s.name != name:
                continue
            if media_session_id is not None and s.media_session_id != media_session_id:
                continue
            if media_session_ids is not None and s.media_session_id not in media_session_ids:
                continue
            if published is False:  # every hub stream is a published one
                continue
            if status is not None and s.status.value != status.upper():
                continue
            out.append(s)
        return out

    def terminate(self, stream: Stream) -> None:
        """/stream/terminate: a call's stream hangs the call up (which unpublishes it)."""
        if not stream._terminate():
            self._unpublish(stream, "Terminated by REST", StreamStatus.UNPUBLISHED)

    def _unpublish(self, stream: Stream, reason: str, status: StreamStatus) -> None:
        if self._streams.get(stream.name) is not stream:
            return
        del self._streams[stream.name]
        stream._end(status, reason)
        log.info("stream %s: %s (%s)", stream.name, status.value, reason)
        self._changed(stream)

    def _changed(self, stream: Stream) -> None:
        if self._hooks is not None:
            self._hooks.post(stream.app_key, "StreamStatusEvent", stream_json(stream))
        for callback in self._watchers.items:
            try:
                callback(stream)
            except Exception:
                log.exception("stream watcher failed")


_NO_CONTROL = PublisherControl()

__all__ = [
    "FrameSink",
    "PacketSink",
    "Publication",
    "PublisherControl",
    "Stream",
    "StreamExists",
    "StreamHub",
    "StreamStatus",
    "Subscription",
    "TrackInfo",
]
