"""The stream hub: named streams, their tracks, publish/subscribe, status and statistics.

A SIP call with ``toStream`` publishes a :class:`Stream`; its media side feeds it RTP packets
(:meth:`Stream.feed_rtp`) and depacketized frames (:meth:`Stream.feed_video`,
:meth:`Stream.feed_audio`). Subscribers attach at two levels:

* packet sinks (WebRTC viewers) get RTP as received (after the jitter buffer when on);
* frame sinks (RTMP, recorders) get undamaged access units and audio frames with a pts on the
  stream's shared media clock.

Sinks are called synchronously on the receive path, so by contract they never block; a sink
that raises is logged once and unsubscribed, so one bad subscriber cannot hurt the others or
the call.

Late joiners start decodable: the stream keeps the video since the last keyframe (its RTP
packets and its access units, bounded) and hands it to a new subscriber first.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from wcs.app.hooks import HookPublisher
from wcs.media.audio import AudioFrame
from wcs.media.h264.nal import NAL_PPS, NAL_SPS, AccessUnit

log = logging.getLogger(__name__)

# The GOP cache is bounded: a sender with very long keyframe intervals would otherwise grow it
# without limit. Past the bound the cache is dropped and a keyframe is requested instead.
GOP_MAX_PACKETS = 3000
GOP_MAX_FRAMES = 600


class StreamStatus(enum.StrEnum):
    PUBLISHING = "PUBLISHING"
    UNPUBLISHED = "UNPUBLISHED"
    PLAYING = "PLAYING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


class StreamExists(Exception):
    """A stream of that name is already published (REST 409)."""

    status = 409


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


class PacketSink(Protocol):
    def on_rtp(self, kind: str, packet: bytes) -> None: ...
    def on_stream_end(self, reason: str) -> None: ...


class FrameSink(Protocol):
    def on_video(self, au: AccessUnit, pts_ms: float) -> None: ...
    def on_audio(self, frame: AudioFrame, pts_ms: float) -> None: ...
    def on_stream_end(self, reason: str) -> None: ...


class JsonEntry(Protocol):
    def to_json(self) -> dict[str, Any]: ...


class Subscription:
    __slots__ = ("_remove", "closed")

    def __init__(self, remove: Callable[[], None]) -> None:
        self._remove = remove
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._remove()


StatsProvider = Callable[[], dict[str, dict[str, Any]]]


class Stream:
    """One named stream. Fed by its publisher; read by any number of subscribers."""

    def __init__(self, name: str, *, call_id: str | None, app_key: str) -> None:
        self.name = name
        self.media_session_id = str(uuid.uuid4())
        self.status = StreamStatus.PUBLISHING
        self.info: str | None = None
        self.tracks: dict[str, TrackInfo] = {}
        self.created = time.time()
        self.call_id = call_id
        self.app_key = app_key
        self.hub: StreamHub | None = None
        # Set by the publisher: per-kind receive statistics, the upstream keyframe request,
        # and what /stream/terminate does (a call's stream hangs the call up).
        self.stats_provider: StatsProvider | None = None
        self.keyframe_requester: Callable[[], None] | None = None
        self.terminator: Callable[[], None] | None = None
        self._packet_sinks: list[PacketSink] = []
        self._frame_sinks: list[FrameSink] = []
        self.track_listeners: list[Callable[[Stream], None]] = []
        self._tracks_ready: asyncio.Event | None = None
        # Video since the last keyframe: packets of the current picture (not yet known to be
        # a keyframe), packets and access units of the current GOP.
        self._pic_ts: int | None = None
        self._pic_packets: list[bytes] = []
        self._gop_packets: list[bytes] = []
        self._gop_frames: list[tuple[AccessUnit, float]] = []
        self._gop_ok = False  # the GOP cache starts with a keyframe
        self.keyframes = 0
        self.frames = {"audio": 0, "video": 0}

    # ------------------------------------------------------------------ tracks
    def set_tracks(self, tracks: dict[str, TrackInfo]) -> None:
        self.tracks = dict(tracks)
        self._tracks_changed()

    def update_track(self, track: TrackInfo) -> None:
        self.tracks[track.kind] = track
        self._tracks_changed()

    def _tracks_changed(self) -> None:
        if self._tracks_ready is not None:
            self._tracks_ready.set()
        for listener in list(self.track_listeners):
            try:
                listener(self)
            except Exception:
                log.exception("stream %s: track listener failed", self.name)

    async def wait_tracks(self, timeout: float | None = None) -> dict[str, TrackInfo]:
        """The tracks, waiting until the publisher knows them (a viewer may come first)."""
        if not self.tracks:
            if self._tracks_ready is None:
                self._tracks_ready = asyncio.Event()
            await asyncio.wait_for(self._tracks_ready.wait(), timeout)
        return self.tracks

    # ------------------------------------------------------------------ subscribe
    def subscribe_packets(self, sink: PacketSink) -> Subscription:
        """Attach a packet sink; it first gets the video since the last keyframe."""
        for packet in self.cached_packets():
            if not self._call_packet(sink, "video", packet):
                return Subscription(lambda: None)
        # Copy-on-write: a feed loop iterating the old list is never disturbed.
        self._packet_sinks = [*self._packet_sinks, sink]
        return Subscription(lambda: self._remove_packet_sink(sink))

    def cached_packets(self) -> list[bytes]:
        """The video packets since the last keyframe (what a new packet sink starts with)."""
        return [*self._gop_packets, *self._pic_packets] if self._gop_ok else []

    def subscribe_frames(self, sink: FrameSink) -> Subscription:
        """Attach a frame sink; it first gets the access units since the last keyframe."""
        for au, pts in self._gop_frames if self._gop_ok else ():
            try:
                sink.on_video(au, pts)
            except Exception:
                log.exception("stream %s: frame sink failed; unsubscribed", self.name)
                return Subscription(lambda: None)
        self._frame_sinks = [*self._frame_sinks, sink]
        return Subscription(lambda: self._remove_frame_sink(sink))

    def _remove_packet_sink(self, sink: PacketSink) -> None:
        self._packet_sinks = [s for s in self._packet_sinks if s is not sink]

    def _remove_frame_sink(self, sink: FrameSink) -> None:
        self._frame_sinks = [s for s in self._frame_sinks if s is not sink]

    @property
    def subscribers(self) -> int:
        return len(self._packet_sinks) + len(self._frame_sinks)

    @property
    def cached_keyframe(self) -> AccessUnit | None:
        return self._gop_frames[0][0] if self._gop_ok and self._gop_frames else None

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (it rate-limits: PLI, then FIR, then SIP INFO)."""
        if self.keyframe_requester is not None:
            self.keyframe_requester()

    # ------------------------------------------------------------------ feed (publisher)
    def feed_rtp(self, kind: str, packet: bytes, timestamp: int) -> None:
        """One RTP packet as received (``timestamp``: its RTP timestamp, already parsed)."""
        if kind == "video":
            if timestamp != self._pic_ts:
                self._end_picture()
                self._pic_ts = timestamp
            self._pic_packets.append(packet)
        for sink in self._packet_sinks:
            try:
                sink.on_rtp(kind, packet)
            except Exception:
                self._drop_packet_sink(sink)

    def _end_picture(self) -> None:
        # The finished picture's packets join the GOP cache (or are forgotten when there is no
        # keyframe to start from; on_keyframe has already restarted the cache otherwise).
        if self._gop_ok:
            self._gop_packets.extend(self._pic_packets)
            if len(self._gop_packets) > GOP_MAX_PACKETS:
                self._drop_gop()
        self._pic_packets = []

    def feed_video(self, au: AccessUnit, pts_ms: float) -> None:
        """An undamaged access unit; a keyframe restarts the late-joiner cache."""
        self.frames["video"] += 1
        if au.keyframe:
            self.keyframes += 1
            packets = self._pic_packets if au.timestamp == self._pic_ts else []
            self._gop_packets = self._keyframe_packets(au, packets)
            self._pic_packets = []
            self._gop_frames = [(au, pts_ms)]
            self._gop_ok = True
            self._learn_parameter_sets(au)
        elif self._gop_ok:
            self._gop_frames.append((au, pts_ms))
            if len(self._gop_frames) > GOP_MAX_FRAMES:
                self._drop_gop()
        for sink in self._frame_sinks:
            try:
                sink.on_video(au, pts_ms)
            except Exception:
                self._drop_frame_sink(sink)

    def feed_audio(self, frame: AudioFrame, pts_ms: float) -> None:
        self.frames["audio"] += 1
        for sink in self._frame_sinks:
            try:
                sink.on_audio(frame, pts_ms)
            except Exception:
                self._drop_frame_sink(sink)

    def _drop_gop(self) -> None:
        self._gop_packets = []
        self._gop_frames = []
        self._gop_ok = False
        self.request_keyframe()

    def _keyframe_packets(self, au: AccessUnit, packets: list[bytes]) -> list[bytes]:
        """The keyframe's RTP packets; with a STAP-A of SPS+PPS in front when the sender
        gave them only in the SDP (``sprop-parameter-sets``), so a viewer needs nothing else."""
        if not packets:
            return []
        inband = False
        for p in packets:
            t = p[12] & 0x1F if len(p) > 12 else 0
            if t in (NAL_SPS, 24):  # an SPS, or a STAP-A (which carries them in practice)
                inband = True
                break
        if inband:
            return list(packets)
        sps = next((n for n in au.nals if n[0] & 0x1F == NAL_SPS), None)
        pps = next((n for n in au.nals if n[0] & 0x1F == NAL_PPS), None)
        if sps is None or pps is None:
            return list(packets)
        first = packets[0]
        if len(first) < 12 or first[0] & 0x30:  # keep it simple: plain 12-byte headers only
            return list(packets)
        head = bytearray(first[:12])
        head[1] &= 0x7F  # no marker
        seq = ((head[2] << 8) | head[3]) - 1 & 0xFFFF
        head[2], head[3] = seq >> 8, seq & 0xFF
        stap = b"\x18" + len(sps).to_bytes(2, "big") + sps + len(pps).to_bytes(2, "big") + pps
        return [bytes(head) + stap, *packets]

    def _learn_parameter_sets(self, au: AccessUnit) -> None:
        track = self.tracks.get("video")
        if track is None:
            return
        sps = next((n for n in au.nals if n[0] & 0x1F == NAL_SPS), None)
        pps = next((n for n in au.nals if n[0] & 0x1F == NAL_PPS), None)
        if sps is not None and pps is not None and (sps, pps) != (track.sps, track.pps):
            track.sps, track.pps = sps, pps
            try:
                from wcs.media.h264.sps import parse_sps

                info = parse_sps(sps)
                track.width, track.height = info.width, info.height
            except ValueError:
                pass
            self._tracks_changed()

    def _call_packet(self, sink: PacketSink, kind: str, packet: bytes) -> bool:
        try:
            sink.on_rtp(kind, packet)
        except Exception:
            log.exception("stream %s: packet sink failed; unsubscribed", self.name)
            return False
        return True

    def _drop_packet_sink(self, sink: PacketSink) -> None:
        log.exception("stream %s: packet sink %r failed; unsubscribed", self.name, sink)
        self._remove_packet_sink(sink)

    def _drop_frame_sink(self, sink: FrameSink) -> None:
        log.exception("stream %s: frame sink %r failed; unsubscribed", self.name, sink)
        self._remove_frame_sink(sink)

    # ------------------------------------------------------------------ end
    def end(self, status: StreamStatus, reason: str) -> None:
        """Every subscriber gets ``on_stream_end``; the stream takes the final status."""
        self.status = status
        self.info = reason
        sinks: list[PacketSink | FrameSink] = [*self._packet_sinks, *self._frame_sinks]
        self._packet_sinks = []
        self._frame_sinks = []
        for sink in sinks:
            try:
                sink.on_stream_end(reason)
            except Exception:
                log.exception("stream %s: sink failed in on_stream_end", self.name)
        self._gop_packets = []
        self._gop_frames = []
        self._pic_packets = []
        self._gop_ok = False

    # ------------------------------------------------------------------ REST
    def to_json(self) -> dict[str, Any]:
        """The WCS Stream object (spec §2.4) plus our per-track receive statistics."""
        stats = self.stats_provider() if self.stats_provider is not None else {}
        audio = self.tracks.get("audio")
        video = self.tracks.get("video")
        a_stats = stats.get("audio", {})
        v_stats = stats.get("video", {})
        packets = sum(int(s.get("packets", 0)) for s in stats.values())
        lost = sum(int(s.get("lost", 0)) for s in stats.values())
        return {
            "name": self.name,
            "mediaSessionId": self.media_session_id,
            "appKey": self.app_key,
            "sessionId": None,
            "nodeId": None,
            "published": True,
            "mediaType": "publish",
            "mediaProvider": "SIP",
            "status": self.status.value,
            "info": self.info,
            "hasAudio": audio is not None,
            "hasVideo": video is not None,
            "audioCodec": audio.codec if audio else None,
            "videoCodec": video.codec if video else None,
            "width": (video.width or 0) if video else 0,
            "height": (video.height or 0) if video else 0,
            "bitrate": round(float(v_stats.get("bitrate", 0.0)) / 1000),
            "audioBitrate": round(float(a_stats.get("bitrate", 0.0)) / 1000),
            "packetsReceived": packets,
            "packetsLost": lost,
            "mediaStats": stats,
            "record": False,
            "createDate": int(self.created * 1000),
            "callId": self.call_id,
            "custom": {},
            "subscribers": self.subscribers,
        }


class StreamHub:
    """Every published stream by name, plus extra /stream/find_all entries (viewers)."""

    def __init__(self, hooks: HookPublisher | None = None) -> None:
        self._hooks = hooks
        self._streams: dict[str, Stream] = {}
        self._entries: list[JsonEntry] = []
        self.listeners: list[Callable[[Stream], None]] = []

    def publish(
        self,
        name: str,
        *,
        call_id: str | None,
        app_key: str,
        tracks: dict[str, TrackInfo] | None = None,
    ) -> Stream:
        """A new PUBLISHING stream (``tracks`` when known, so the status event carries them)."""
        if name in self._streams:
            raise StreamExists(f"stream {name!r} is already published")
        stream = Stream(name, call_id=call_id, app_key=app_key)
        if tracks:
            stream.tracks = dict(tracks)
        stream.hub = self
        self._streams[name] = stream
        log.info("stream %s: PUBLISHING (%s)", name, stream.media_session_id)
        self._changed(stream)
        return stream

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

    def unpublish(
        self, name: str, reason: str, status: StreamStatus = StreamStatus.UNPUBLISHED
    ) -> None:
        stream = self._streams.pop(name, None)
        if stream is None:
            return
        stream.end(status, reason)
        log.info("stream %s: %s (%s)", name, status.value, reason)
        self._changed(stream)

    def terminate(self, stream: Stream) -> None:
        """/stream/terminate: a call's stream hangs the call up (which unpublishes it)."""
        if stream.terminator is not None:
            stream.terminator()
        else:
            self.unpublish(stream.name, "Terminated by REST")

    # ------------------------------------------------------------------ extra entries
    def add_entry(self, entry: JsonEntry) -> None:
        self._entries.append(entry)

    def remove_entry(self, entry: JsonEntry) -> None:
        with contextlib.suppress(ValueError):
            self._entries.remove(entry)

    @property
    def entries(self) -> list[JsonEntry]:
        return list(self._entries)

    def _changed(self, stream: Stream) -> None:
        if self._hooks is not None:
            self._hooks.post(stream.app_key, "StreamStatusEvent", stream.to_json())
        for listener in list(self.listeners):
            try:
                listener(stream)
            except Exception:
                log.exception("stream listener failed")


__all__ = [
    "FrameSink",
    "JsonEntry",
    "PacketSink",
    "Stream",
    "StreamExists",
    "StreamHub",
    "StreamStatus",
    "Subscription",
    "TrackInfo",
]
