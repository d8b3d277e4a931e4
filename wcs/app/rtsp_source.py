"""The stream hub as the RTSP edge sees it: descriptions and packet subscriptions.

A stream's RTSP tracks are its video track (track id 0) and its audio track (track id 1),
those the hub knows now (codec, payload type and fmtp as received; SPS/PPS from the cached
keyframe). The ids stay the same when a track appears later: a stream whose audio comes
after its video is described with its video only until then; a player that set up the
video keeps playing it and gets no audio (RTSP 1.0 cannot add a track to a session: the
player sees the audio on its next DESCRIBE).

A subscription is a packet sink of the stream: RTP as received, the video since the cached
keyframe first (PLAY starts on a decodable picture) and the audio from the last packet
received. Those first packets are what :meth:`HubRtspSource.rtp_info` reports for the PLAY
response's RTP-Info (RFC 2326 12.33): their sequence number and RTP timestamp. A track with
no packet yet (no keyframe cached, no audio received) is left out of RTP-Info.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from wcs.app.streams import Stream, StreamHub, StreamStatus, Subscription
from wcs.rtsp import RtspTrack, StreamDescription

TRACK_IDS = {"video": 0, "audio": 1}


class _Sink:
    __slots__ = ("_on_end", "_on_rtp")

    def __init__(self, on_rtp: Callable[[int, bytes], None], on_end: Callable[[], None]) -> None:
        self._on_rtp = on_rtp
        self._on_end = on_end

    def on_rtp(self, kind: str, packet: bytes) -> None:
        track = TRACK_IDS.get(kind)
        if track is not None:
            self._on_rtp(track, packet)

    def on_stream_end(self, reason: str) -> None:
        self._on_end()


def _position(packet: bytes | None) -> tuple[int, int] | None:
    if packet is None or len(packet) < 12:
        return None
    seq, ts = struct.unpack_from("!HI", packet, 2)
    return seq, ts


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
                t.kind, t.codec, t.clock_rate, t.payload_type, t.channels, t.fmtp, t.sps, t.pps,
                track_id=TRACK_IDS[kind],
            )
            for kind in TRACK_IDS
            if (t := stream.tracks.get(kind)) is not None
        )  # fmt: skip
        return StreamDescription(name, tracks)

    def rtp_info(self, name: str, track: int) -> tuple[int, int] | None:
        stream = self._live(name)
        if stream is None:
            return None
        if track == TRACK_IDS["video"]:
            cached = stream.cached_packets()
            return _position(cached[0] if cached else None)
        if track == TRACK_IDS["audio"]:
            return _position(stream.last_packet("audio"))
        return None

    def subscribe(
        self, name: str, on_rtp: Callable[[int, bytes], None], on_end: Callable[[], None]
    ) -> Subscription | None:
        stream = self._live(name)
        if stream is None:
            return None
        subscription = stream.subscribe_packets(_Sink(on_rtp, on_end))
        audio = stream.last_packet("audio")
        if audio is not None and "audio" in stream.tracks:
            on_rtp(TRACK_IDS["audio"], audio)  # the packet RTP-Info named
        return subscription


__all__ = ["TRACK_IDS", "HubRtspSource"]
