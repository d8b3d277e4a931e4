"""Generated media for streams that lack a track (WCS known issue 2): black H.264 video and
G.711 silence, so that sinks needing both tracks (RTMP, recorders, some players) can start.

The black video is encoded once per process (PyAV/libx264, one second's GOP of 10 frames at
320x240; the P frames are a few bytes each) and then replayed with new timestamps.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache

from .audio import AudioFrame
from .h264.nal import NAL_PPS, NAL_SPS, AccessUnit, nal_type, split_annexb

BLACK_WIDTH = 320
BLACK_HEIGHT = 240
BLACK_FPS = 10
SILENCE_PTIME_MS = 20


@cache
def black_gop() -> tuple[tuple[bytes, ...], ...]:
    """NAL units of each access unit of one GOP of black frames; the first is an IDR with
    SPS and PPS."""
    import av  # imported here: only a server with generate_av pays for it

    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = BLACK_WIDTH, BLACK_HEIGHT, "yuv420p"
    ctx.framerate = Fraction(BLACK_FPS)
    ctx.time_base = Fraction(1, BLACK_FPS)
    ctx.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "profile": "baseline",
        "x264-params": f"keyint={BLACK_FPS}:min-keyint={BLACK_FPS}:scenecut=0:repeat-headers=1",
    }
    packets = []
    for i in range(BLACK_FPS):
        frame = av.VideoFrame(BLACK_WIDTH, BLACK_HEIGHT, "yuv420p")
        # Video-range black: Y = 16, U = V = 128 (written over each plane's padded lines).
        for plane, value in zip(frame.planes, (16, 128, 128), strict=True):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts = i
        packets += ctx.encode(frame)
    packets += ctx.encode(None)
    gop = []
    for p in packets:
        nals = [n for n in split_annexb(bytes(p)) if nal_type(n) in (NAL_SPS, NAL_PPS, 1, 5)]
        gop.append(tuple(nals))
    return tuple(gop)


class BlackVideo:
    """Black access units on the 90 kHz clock, ``BLACK_FPS`` per second."""

    def __init__(self) -> None:
        self._gop = black_gop()
        self._index = 0
        self.timestamp = 0

    @property
    def interval(self) -> float:
        return 1.0 / BLACK_FPS

    def next(self) -> AccessUnit:
        nals = list(self._gop[self._index])
        key = self._index == 0
        self._index = (self._index + 1) % len(self._gop)
        au = AccessUnit(self.timestamp, nals, keyframe=key)
        self.timestamp = (self.timestamp + 90000 // BLACK_FPS) & 0xFFFFFFFF
        return au

    def parameter_sets(self) -> tuple[bytes, bytes]:
        first = self._gop[0]
        sps = next(n for n in first if nal_type(n) == NAL_SPS)
        pps = next(n for n in first if nal_type(n) == NAL_PPS)
        return sps, pps


class Silence:
    """PCMU silence frames of ``SILENCE_PTIME_MS``."""

    def __init__(self) -> None:
        self.timestamp = 0
        self._payload = b"\xff" * (8 * SILENCE_PTIME_MS)

    @property
    def interval(self) -> float:
        return SILENCE_PTIME_MS / 1000

    def next(self) -> AudioFrame:
        frame = AudioFrame("PCMU", self.timestamp, 8000, self._payload, len(self._payload))
        self.timestamp = (self.timestamp + len(self._payload)) & 0xFFFFFFFF
        return frame
