"""A live stream with the wall clock burned into every picture, published into a hub.

Each picture (352x288, 25 fps, libx264 through PyAV, a keyframe every second and whenever a
consumer asks) carries the wall-clock millisecond at which it was made as 48 black/white
blocks (8 columns x 6 rows of 44x32 pixels, most significant bit first) in its top part;
:func:`read_clock` reads it back from a decoded picture. Audio: 20 ms PCMU frames of a
tone. Both go into the hub as a call's media would: RTP packets (``feed_rtp``, for WebRTC
and RTSP) and frames (``feed_video``/``feed_audio``, for HLS and its AAC stage).

Every player's latency is then "wall clock when the picture is shown minus the clock in
it": glass to glass, minus the camera and the screen.
"""

from __future__ import annotations

import asyncio
import math
import time
from fractions import Fraction

import av
import numpy as np

from wcs.app.stream import PublisherControl, TrackInfo
from wcs.app.streams import Publication, StreamHub
from wcs.media.audio import PCMU, frame_from_rtp, ulaw_encode
from wcs.media.h264 import AccessUnit, split_annexb
from wcs.media.h264.packetizer import H264Packetizer
from wcs.rtp.packet import pack_header

WIDTH, HEIGHT, FPS = 352, 288, 25
BITS, COLS, BW, BH = 48, 8, 44, 32
VIDEO_PT, AUDIO_PT = 96, 0


def burn(ms: int) -> np.ndarray:
    """A yuv420p picture (as PyAV's from_ndarray wants it) showing ``ms``."""
    y = np.full((HEIGHT, WIDTH), 110, np.uint8)
    for bit in range(BITS):
        row, col = divmod(bit, COLS)
        on = (ms >> (BITS - 1 - bit)) & 1
        y[row * BH : (row + 1) * BH, col * BW : (col + 1) * BW] = 235 if on else 16
    uv = np.full((HEIGHT // 2, WIDTH), 128, np.uint8)  # U and V planes, each h/2 x w/2
    return np.concatenate([y, uv])


def read_clock(gray: np.ndarray) -> int:
    """The millisecond burned into a decoded picture (its Y plane, HEIGHT x WIDTH)."""
    ms = 0
    for bit in range(BITS):
        row, col = divmod(bit, COLS)
        y0, x0 = row * BH + BH // 2 - 6, col * BW + BW // 2 - 6
        ms = (ms << 1) | int(gray[y0 : y0 + 12, x0 : x0 + 12].mean() > 128)
    return ms


class ClockSource:
    def __init__(self, hub: StreamHub, name: str) -> None:
        self._keyframe_wanted = False
        control = PublisherControl(request_keyframe=self._want_keyframe)
        tracks = {
            "video": TrackInfo("video", "H264", 90000, fmtp="packetization-mode=1",
                               payload_type=VIDEO_PT),
            "audio": TrackInfo("audio", "PCMU", 8000, payload_type=AUDIO_PT),
        }  # fmt: skip
        self.pub: Publication = hub.publish(
            name, call_id=None, app_key="bench", tracks=tracks, control=control
        )
        enc = av.CodecContext.create("libx264", "w")
        enc.width, enc.height, enc.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        enc.time_base = Fraction(1, FPS)
        enc.bit_rate = 600_000
        enc.gop_size = FPS
        enc.options = {"preset": "ultrafast", "tune": "zerolatency", "bframes": "0"}
        self.enc = enc
        self.packetizer = H264Packetizer()
        self.seq = {"video": 0, "audio": 0}
        self.frames = 0
        self._task: asyncio.Task[None] | None = None
        tone = [int(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(160)]
        self._tone = ulaw_encode(np.array(tone, dtype=np.int16).tobytes())

    def _want_keyframe(self) -> None:
        self._keyframe_wanted = True

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.pub.unpublish("bench over")

    def _rtp(self, kind: str, payload: bytes, ts: int, marker: bool) -> bytes:
        seq = self.seq[kind]
        self.seq[kind] = (seq + 1) & 0xFFFF
        pt = VIDEO_PT if kind == "video" else AUDIO_PT
        return pack_header(pt, seq, ts, 0x5EED0 + (kind == "video"), marker) + payload

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        audio_n = video_n = 0
        while True:
            t_video = start + video_n / FPS
            t_audio = start + audio_n * 0.02
            due = min(t_video, t_audio)
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            if t_audio <= t_video:
                ts = audio_n * 160
                frame = frame_from_rtp(PCMU, self._tone, ts)
                self.pub.feed_rtp("audio", self._rtp("audio", self._tone, ts, False), ts)
                self.pub.feed_audio(frame, audio_n * 20.0)
                audio_n += 1
            else:
                self._video(video_n)
                video_n += 1

    def _video(self, n: int) -> None:
        picture = av.VideoFrame.from_ndarray(burn(int(time.time() * 1000)), format="yuv420p")
        picture.pts = n
        if self._keyframe_wanted:
            picture.pict_type = av.video.frame.PictureType.I
            self._keyframe_wanted = False
        ts = n * 90000 // FPS
        for packet in self.enc.encode(picture):
            nals = split_annexb(bytes(packet))
            key = any(nal[0] & 0x1F == 5 for nal in nals)
            types = {nal[0] & 0x1F for nal in nals}
            au = AccessUnit(ts, nals, keyframe=key and {7, 8} <= types)
            payloads = self.packetizer.packetize(nals)
            for i, payload in enumerate(payloads):
                last = i == len(payloads) - 1
                self.pub.feed_rtp("video", self._rtp("video", payload, ts, last), ts)
            self.pub.feed_video(au, n * 1000 / FPS)
            self.frames += 1
