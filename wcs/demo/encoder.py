"""H.264 encoding of the test card with PyAV (libx264), shared by every demo call.

Baseline profile, one IDR per second with SPS/PPS repeated, no B frames and no lookahead:
what a SIP video phone sends, and what a browser joining mid-call can start on within a
second.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from wcs.media.h264.nal import NAL_PPS, NAL_SLICE, NAL_SLICE_IDR, NAL_SPS, nal_type, split_annexb

from .testcard import Picture

_KEEP = frozenset({NAL_SPS, NAL_PPS, NAL_SLICE, NAL_SLICE_IDR})


class H264Encoder:
    """``encode(picture)`` -> the NAL units of its access unit (without start codes)."""

    def __init__(self, width: int, height: int, fps: int, bitrate: int = 800_000) -> None:
        import av  # imported here: a server without demo calls never loads libx264

        self._av: Any = av
        ctx: Any = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
        ctx.framerate = Fraction(fps)
        ctx.time_base = Fraction(1, fps)
        ctx.bit_rate = bitrate
        ctx.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0:repeat-headers=1",
        }
        self._ctx = ctx
        self._pts = 0
        self.width = width
        self.height = height

    def encode(self, picture: Picture) -> list[bytes]:
        frame = self._av.VideoFrame(picture.width, picture.height, "yuv420p")
        for plane, data, width in (
            (frame.planes[0], picture.y, picture.width),
            (frame.planes[1], picture.u, picture.width // 2),
            (frame.planes[2], picture.v, picture.width // 2),
        ):
            _fill(plane, data, width)
        frame.pts = self._pts
        self._pts += 1
        nals: list[bytes] = []
        for packet in self._ctx.encode(frame):
            nals += [n for n in split_annexb(bytes(packet)) if nal_type(n) in _KEEP]
        return nals


def _fill(plane: Any, data: bytes, width: int) -> None:
    """Copy rows into a plane whose rows may be padded (line_size >= width)."""
    stride = plane.line_size
    if stride == width:
        plane.update(data)
        return
    rows = len(data) // width
    padded = bytearray(stride * rows)
    for r in range(rows):
        padded[r * stride : r * stride + width] = data[r * width : (r + 1) * width]
    plane.update(bytes(padded))
