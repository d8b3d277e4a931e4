"""The stream hub as the RTSP edge sees it: descriptions and packet subscriptions.

A stream's RTSP tracks are its video track (if any) then its audio track, as the hub knows
them (codec, payload type and fmtp as received; SPS/PPS from the cached keyframe). A
subscription is a packet sink of the stream: RTP as received, the video since the cached
keyframe first, so PLAY starts on a decodable picture.
"""

from __future__ import annotations

from collections.abc import Callable

from wcs.app.streams import Stream, StreamHub, StreamStatus, Subscription, TrackInfo
from wcs.rtsp import RtspTrack, StreamDescription

_ORDER = ("video", "audio")


def _tracks(stream: Stream) -> list[TrackInfo]:
    return [stream.tracks[k] for k in _ORDER if k in stream.tracks]


class _Sink:
    __slots__ = ("_index", "_on_end", "_on_rtp")

    def __init__(
        self,
        index: dict[str, int],
        on_rtp: Callable[[int, bytes], None],
        on_end: Callable[[], None],
    ) -> None:
        self._index = index
        self._on_rtp = on_rtp
        self._on_end = on_end

    def on_rtp(self, kind: str, packet: bytes) -> None:
        track = self._index.get(kind)
        if track is not None:
            self._on_rtp(track, packet)

    def on_stream_end(self, reason: str) -> None:
        self._on_end()


class HubRtspSource:
    def __init__(self, hub: StreamHub) -> None:
        self.hub = hub

    def _live(self, name: str) -> Stream | None:
        stream = self.hub.get(name)
        if stream is None or stream.status is not StreamStatus.PUBLISHING:
            return None
        return stream

    def describe(self, name: str) -> StreamDescription | None:
        stream = self._live(name)
        if stream is None:
            return None
        tracks = tuple(
            RtspTrack(
                t.kind, t.codec, t.clock_rate, t.payload_type, t.channels, t.fmtp, t.sps, t.pps
            )
            for t in _tracks(stream)
        )
        return StreamDescription(name, tracks)

    def rtp_info(self, name: str, track: int) -> tuple[int, int] | None:
        return None  # packets go out as received: the player learns them from the first one

    def subscribe(
        self, name: str, on_rtp: Callable[[int, bytes], None], on_end: Callable[[], None]
    ) -> Subscription | None:
        stream = self._live(name)
        if stream is None:
            return None
        index = {t.kind: i for i, t in enumerate(_tracks(stream))}
        return stream.subscribe_packets(_Sink(index, on_rtp, on_end))


__all__ = ["HubRtspSource"]
