"""A relayed copy's packets into the edge's stream, exactly as a call's session feeds one.

The origin relays RTP as its stream got it. The edge forwards each packet to its packet sinks
unchanged (``feed_rtp``) and also depacketizes it (H.264 access units, audio frames) onto a
media clock (:class:`wcs.app.stream_feed.StreamFeed`), so the edge's copy has the same
late-joiner keyframe cache as a local stream, and frame sinks (HLS, RTSP, recordings,
pushes) work on an edge too.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping

from wcs.app.stream import TrackInfo
from wcs.app.stream_feed import StreamFeed, StreamSink
from wcs.media.audio import AudioCodec, codec_by_name, frame_from_rtp
from wcs.media.h264 import H264Depacketizer
from wcs.rtp.packet import payload_span, seq_ts_ssrc


class RelayFeed:
    __slots__ = ("_audio", "_dep", "_feed", "_keyframe", "_ssrc", "malformed")

    def __init__(
        self,
        stream: StreamSink,
        tracks: Mapping[str, TrackInfo],
        now: float,
        request_keyframe: Callable[[], None],
    ) -> None:
        self._feed = StreamFeed(now)
        self._feed.stream = stream
        video = tracks.get("video")
        h264 = video is not None and video.codec.upper() == "H264"
        self._dep = H264Depacketizer() if h264 else None
        audio = tracks.get("audio")
        self._audio: AudioCodec | None = codec_by_name(audio.codec) if audio else None
        self._keyframe = request_keyframe
        self._ssrc: dict[str, int] = {}
        self.malformed = 0

    def receive(self, kind: str, packet: bytes, now: float) -> None:
        try:
            seq, ts, ssrc = seq_ts_ssrc(packet)
        except struct.error:
            self.malformed += 1
            return
        if self._ssrc.get(kind, ssrc) != ssrc:  # a new source at the origin: a new timeline
            if kind == "video" and self._dep is not None:
                self._dep.flush()
                self._dep = self._dep.successor()
            self._feed.on_rebase(kind, ts, now)
        self._ssrc[kind] = ssrc
        self._feed.on_rtp(kind, packet, ts)
        start, end = payload_span(packet)
        if start < 0:
            self.malformed += 1
            return
        payload = packet[start:end]
        if kind == "video":
            dep = self._dep
            if dep is None:
                return
            for au in dep.push(payload, seq, ts, packet[1] >= 0x80):
                self._feed.on_video(au, now)
            if dep.needs_keyframe:
                self._keyframe()
        elif self._audio is not None and payload:
            try:
                frame = frame_from_rtp(self._audio, payload, ts)
            except ValueError:
                self.malformed += 1
                return
            self._feed.on_audio(frame, now)
