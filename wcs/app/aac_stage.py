"""The shared AAC stage: a stream's G.711/Opus audio → AAC-LC, encoded once per stream.

Every consumer that needs AAC (the HLS output, RTMP pushes, MP4/AAC recordings) takes the
stage of its stream from :class:`AacStages` with :meth:`AacStages.acquire`; the first one
creates it (a frame subscription on the stream and one encoder thread), later ones share
it, and the last ``cancel()`` ends it. So N consumers of one stream cost one decode and one
encode, never N (DESIGN: "created once per (stream, target format) and shared").

:class:`AacTranscoder` is the sans-IO part (payload in, AAC frames out, PyAV underneath);
:class:`AacStage` runs it on a :class:`ThreadWorker` (encoding costs ~0.2 ms per 20 ms
frame, too much for the loop with many streams) and hands the frames back on the loop in
order. The output is 48 kHz mono AAC-LC whatever the input (see :mod:`wcs.rtmp.aac`), so
its AudioSpecificConfig is known before the first frame.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from wcs.app.streams import Stream, Subscription
from wcs.media.audio import AudioFrame
from wcs.media.g711 import alaw_decode, ulaw_decode
from wcs.media.h264.nal import AccessUnit
from wcs.media.thread_worker import ThreadWorker
from wcs.rtmp.aac import AacEncoder, AacFrame
from wcs.rtmp.pipeline import OPUS_RATE, OpusDecoder

log = logging.getLogger(__name__)

QUEUE_LIMIT = 200  # ~4 s of 20 ms frames waiting for the encoder thread
_G711 = {"PCMU": ulaw_decode, "PCMA": alaw_decode}


def can_encode(codec: str | None) -> bool:
    """Whether the stage takes this audio codec (G.711 or Opus)."""
    return codec is not None and (codec.upper() in _G711 or codec.lower() == "opus")


@dataclass(frozen=True, slots=True)
class AacTrack:
    """What a consumer needs to describe the output before the first frame."""

    asc: bytes  # AudioSpecificConfig
    sample_rate: int
    channels: int


class AacTranscoder:
    """Sans-IO: one audio payload (PCMU, PCMA or Opus) with its pts → AAC frames."""

    def __init__(self, codec: str) -> None:
        if not can_encode(codec):
            raise ValueError(f"no AAC from {codec}")
        self.codec = codec
        opus = codec.lower() == "opus"
        self._opus = OpusDecoder() if opus else None
        self._g711 = None if opus else _G711[codec.upper()]
        self.encoder = AacEncoder(OPUS_RATE if opus else 8000)
        self.track = AacTrack(self.encoder.audio_specific_config, self.encoder.output_rate, 1)

    def feed(self, payload: bytes, pts_ms: float) -> list[AacFrame]:
        if not payload:
            return []
        if self._opus is not None:
            pcm = self._opus.decode(payload)
        else:
            assert self._g711 is not None
            pcm = self._g711(payload)
        return self.encoder.encode(pcm, round(pts_ms)) if pcm else []

    def flush(self) -> list[AacFrame]:
        return self.encoder.flush()


class AacConsumer(Protocol):
    def on_aac(self, data: bytes, pts_ms: float) -> None: ...


class AacStage:
    """One stream's encoder thread and its consumers (a frame sink of the stream)."""

    def __init__(
        self,
        stream: Stream,
        codec: str,
        loop: asyncio.AbstractEventLoop,
        on_empty: Callable[[AacStage], None],
    ) -> None:
        self.stream = stream
        self.codec = codec
        self.transcoder = AacTranscoder(codec)
        self.track = self.transcoder.track
        self.frames_in = 0
        self.frames_out = 0
        self.dropped = 0
        self._loop = loop
        self._on_empty = on_empty
        self._consumers: tuple[AacConsumer, ...] = ()
        self._worker: ThreadWorker[tuple[bytes, float]] = ThreadWorker(
            f"wcs-aac-{stream.name}"[:15], self._encode, QUEUE_LIMIT
        )
        self._subscription = stream.subscribe_frames(self, video=False)

    @property
    def consumers(self) -> int:
        return len(self._consumers)

    def add(self, consumer: AacConsumer) -> Subscription:
        self._consumers = (*self._consumers, consumer)
        return Subscription(lambda: self._remove(consumer))

    def _remove(self, consumer: AacConsumer) -> None:
        self._consumers = tuple(c for c in self._consumers if c is not consumer)
        if not self._consumers:
            self.close()

    def close(self) -> None:
        self._subscription.cancel()
        self._worker.close()
        self._consumers = ()
        self._on_empty(self)

    # -- frame sink (loop side) ------------------------------------------------------------
    def on_video(self, au: AccessUnit, pts_ms: float) -> None:
        return None

    def on_audio(self, frame: AudioFrame, pts_ms: float) -> None:
        if frame.codec != self.codec:
            return  # telephone-event, or a codec the stage was not made for
        self.frames_in += 1
        if not self._worker.put((frame.payload, pts_ms)):
            self.dropped += 1

    def on_stream_end(self, reason: str) -> None:
        self._worker.close()

    # -- thread side -----------------------------------------------------------------------
    def _encode(self, batch: list[tuple[bytes, float]]) -> bool:
        out: list[AacFrame] = []
        for payload, pts in batch:
            try:
                out += self.transcoder.feed(payload, pts)
            except Exception:  # one bad frame costs its 20 ms, not the stream's audio
                log.exception("stream %s: AAC encoding failed for one frame", self.stream.name)
        if out:
            try:
                self._loop.call_soon_threadsafe(self._deliver, out)
            except RuntimeError:  # the loop is closed: shutting down
                return False
        return True

    def _deliver(self, frames: list[AacFrame]) -> None:
        self.frames_out += len(frames)
        for consumer in self._consumers:
            for frame in frames:
                try:
                    consumer.on_aac(frame.data, float(frame.timestamp_ms))
                except Exception:
                    log.exception("stream %s: AAC consumer failed; removed", self.stream.name)
                    self._remove(consumer)
                    break


class AacStages:
    """Every stream's AAC stage, made on first use and shared by every consumer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._stages: dict[int, AacStage] = {}  # by id(stream): a republished name is new

    def acquire(self, stream: Stream, consumer: AacConsumer) -> tuple[AacTrack, Subscription]:
        """Attach ``consumer`` to the stream's stage (made now if none); ValueError when the
        stream has no audio the stage can encode."""
        stage = self._stages.get(id(stream))
        if stage is None or stage.stream is not stream:
            track = stream.tracks.get("audio")
            codec = track.codec if track is not None else None
            if codec is None or not can_encode(codec):
                raise ValueError(f"stream {stream.name} has no audio to encode to AAC")
            stage = AacStage(stream, codec, self._loop, self._forget)
            self._stages[id(stream)] = stage
        return stage.track, stage.add(consumer)

    def stage_of(self, stream: Stream) -> AacStage | None:
        stage = self._stages.get(id(stream))
        return stage if stage is not None and stage.stream is stream else None

    def __len__(self) -> int:
        return len(self._stages)

    def _forget(self, stage: AacStage) -> None:
        if self._stages.get(id(stage.stream)) is stage:
            del self._stages[id(stage.stream)]

    def close(self) -> None:
        for stage in list(self._stages.values()):
            stage.close()


__all__ = ["AacConsumer", "AacStage", "AacStages", "AacTrack", "AacTranscoder", "can_encode"]
