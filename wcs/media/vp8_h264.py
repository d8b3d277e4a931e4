"""VP8 frames → H.264 access units with PyAV (FFmpeg's VP8 decoder, libx264), sans-IO.

For the sinks that cannot take VP8 (RTMP/FLV, MP4/MKV recordings, HLS): a browser that
published VP8 is decoded and re-encoded once per stream. The output is what those sinks and
a late joiner need: baseline profile, no B frames, SPS/PPS in front of every IDR. An IDR
comes when the VP8 input has a key frame (a consumer's keyframe request reaches the
publisher as PLI and comes back this way) and at least every ``keyframe_interval`` seconds
of media time; the encoder is re-made when the picture size changes.

Timestamps: the caller's ``pts_ms`` (the stream's media clock) goes through unchanged; the
access unit's RTP-style timestamp is the pts on a 90 kHz clock.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from .h264.nal import NAL_PPS, NAL_SLICE, NAL_SLICE_IDR, NAL_SPS, AccessUnit, nal_type, split_annexb

_KEEP = frozenset({NAL_SPS, NAL_PPS, NAL_SLICE, NAL_SLICE_IDR})
DEFAULT_BITRATE = 1_500_000


class Vp8ToH264:
    def __init__(self, keyframe_interval: float = 2.0, bitrate: int = DEFAULT_BITRATE) -> None:
        import av  # loaded only by servers that transcode

        self._av: Any = av
        self.keyframe_interval_ms = keyframe_interval * 1000.0
        self.bitrate = bitrate
        self._decoder: Any = av.CodecContext.create("vp8", "r")
        self._encoder: Any = None
        self._size = (0, 0)
        self._last_idr_ms: float | None = None
        self._pts: dict[int, float] = {}  # encoder pts (ms, rounded) → the caller's pts
        self.decoded = 0
        self.encoded = 0
        self.errors = 0

    def feed(self, frame: bytes, keyframe: bool, pts_ms: float) -> list[tuple[AccessUnit, float]]:
        """One VP8 frame; the access units it completed (usually one), with their pts."""
        try:
            pictures = self._decoder.decode(self._av.Packet(frame))
        except self._av.FFmpegError:
            self.errors += 1
            return []
        out: list[tuple[AccessUnit, float]] = []
        for picture in pictures:
            self.decoded += 1
            out += self._encode(picture, keyframe, pts_ms)
        return out

    def _encode(
        self, picture: Any, keyframe: bool, pts_ms: float
    ) -> list[tuple[AccessUnit, float]]:
        size = (picture.width, picture.height)
        if self._encoder is None or size != self._size:
            self._encoder = self._new_encoder(*size)
            self._size = size
            self._last_idr_ms = None
        pts = round(pts_ms)
        idr = (
            keyframe
            or self._last_idr_ms is None
            or pts_ms - self._last_idr_ms >= self.keyframe_interval_ms
        )
        if idr:
            self._last_idr_ms = pts_ms
        if picture.format.name != "yuv420p":
            picture = picture.reformat(format="yuv420p")
        picture.pts = pts
        picture.time_base = Fraction(1, 1000)
        picture.pict_type = self._av.video.frame.PictureType.I if idr else 0
        self._pts[pts] = pts_ms
        out: list[tuple[AccessUnit, float]] = []
        for packet in self._encoder.encode(picture):
            nals = [n for n in split_annexb(bytes(packet)) if nal_type(n) in _KEEP]
            if not nals:
                continue
            when = self._pts.pop(int(packet.pts), float(packet.pts))
            key = any(nal_type(n) == NAL_SLICE_IDR for n in nals) and any(
                nal_type(n) == NAL_SPS for n in nals
            )
            ts = round(when * 90) & 0xFFFFFFFF
            out.append((AccessUnit(ts, nals, keyframe=key), when))
            self.encoded += 1
        if len(self._pts) > 64:  # an encoder that dropped frames must not grow this
            self._pts.clear()
        return out

    def _new_encoder(self, width: int, height: int) -> Any:
        ctx: Any = self._av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
        ctx.time_base = Fraction(1, 1000)
        ctx.bit_rate = self.bitrate
        ctx.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "forced-idr": "1",
            # IDRs only when asked (input key frames, the interval): none of x264's own.
            "x264-params": "keyint=infinite:scenecut=0:repeat-headers=1",
        }
        return ctx


__all__ = ["Vp8ToH264"]
