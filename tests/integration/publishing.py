"""An aiortc publisher for the ingest tests: an Opus tone and an H.264 test picture."""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Any

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

PUBLISH_TONE_HZ = 440
WIDTH, HEIGHT = 320, 240


class ToneTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, hz: int = PUBLISH_TONE_HZ) -> None:
        super().__init__()
        self.hz = hz
        self.samples = 0
        self.start: float | None = None

    async def recv(self) -> av.AudioFrame:
        n = 960  # 20 ms at 48 kHz
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.samples / 48000 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (np.arange(n) + self.samples) / 48000
        pcm = (np.sin(2 * np.pi * self.hz * t) * 12000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self.samples
        frame.time_base = fractions.Fraction(1, 48000)
        self.samples += n
        return frame


class TestCardTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, fps: int = 25) -> None:
        super().__init__()
        self.fps = fps
        self.count = 0
        self.start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.count / self.fps - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        img = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        x = (self.count * 4) % WIDTH
        img[:, x : x + 16] = (255, 255, 255)  # a moving bar: every frame differs
        img[: HEIGHT // 2, :, 1] = 128
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = self.count * (90000 // self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        self.count += 1
        return frame


class Publisher:
    """``await offer()`` (H.264 + Opus, send-only), then ``await answer(sdp)``."""

    def __init__(self, video_codec: str = "H264") -> None:
        self.pc = RTCPeerConnection()
        self.video_codec = video_codec
        self.audio_track = ToneTrack()
        self.video_track = TestCardTrack()

    async def offer(self) -> str:
        video = self.pc.addTransceiver(self.video_track, direction="sendonly")
        self.pc.addTransceiver(self.audio_track, direction="sendonly")
        caps = RTCRtpSender.getCapabilities("video")
        assert caps is not None
        wanted = [
            c for c in caps.codecs if c.mimeType.lower() == f"video/{self.video_codec}".lower()
        ]
        video.setCodecPreferences(wanted)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))

    def video_sender(self) -> Any:
        return next(t.sender for t in self.pc.getTransceivers() if t.kind == "video")

    async def close(self) -> None:
        await self.pc.close()
