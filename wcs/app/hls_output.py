"""One stream's (LL-)HLS output: the hub's frames and the shared AAC stage into a Segmenter.

:class:`HlsOutput` is a frame sink of its stream (H.264 access units as received, never
re-encoded) and a consumer of the stream's :class:`~wcs.app.aac_stage.AacStage` (audio as
AAC). It drives :class:`wcs.hls.Segmenter` and acts on its events: ``KeyframeWanted`` goes
to the source (the stream's keyframe requester: PLI, FIR, then SIP INFO), every new part,
segment or the end wakes the HTTP requests held on it (blocking playlist reload).

:class:`HlsOutputs` owns the outputs by stream name: one is made on the first request for
a stream (or when the stream is published, with ``always``) and closed after ``idle``
seconds without a request. A stream that ends keeps its output (EXT-X-ENDLIST) until then;
a stream republished under the same name gets a new output.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from wcs.app.aac_stage import AacStages, can_encode
from wcs.app.streams import Stream, StreamHub, StreamStatus, Subscription
from wcs.hls import AudioConfig, HlsSettings, KeyframeWanted, Segmenter
from wcs.media.audio import AudioFrame
from wcs.media.h264.nal import AccessUnit

log = logging.getLogger(__name__)


def first_number(now: float) -> int:
    """Where an output's numbering starts: a tenth of a second of wall clock (wrapping after
    three years), so outputs of a republished name never reuse a URI a cache still holds:
    segments are at most 10 per second (a target of 0.1 s), the clock moves as fast."""
    return int(now * 10) % (10**9 - 10**6)  # init ids stay within names' 9 digits


class HlsOutput:
    def __init__(self, stream: Stream, stages: AacStages, settings: HlsSettings) -> None:
        self.stream = stream
        self.last_access = 0.0
        # Wall clock (Unix s) of media time 0 (EXT-X-PROGRAM-DATE-TIME): from the arrival of
        # the first live frame (the cached GOP replayed at the start is old).
        self.epoch: float | None = None
        self.closed = False
        video = "video" in stream.tracks
        audio_track = stream.tracks.get("audio")
        audio: AudioConfig | None = None
        self._aac: Subscription | None = None
        if audio_track is not None and can_encode(audio_track.codec):
            track, self._aac = stages.acquire(stream, self)
            audio = AudioConfig(track.asc, track.sample_rate, track.channels)
        self.segmenter = Segmenter(video, audio, settings, first_number(time.time()))
        self._waiters: list[asyncio.Future[None]] = []
        self._video = video
        # The cached GOP comes first, with its old pts: the clock is anchored on live media.
        self._replaying = True
        self._frames: Subscription | None = stream.subscribe_frames(self) if video else None
        self._replaying = False
        if stream.status is not StreamStatus.PUBLISHING:
            self.on_stream_end(stream.info or "ended")

    # -- inputs ----------------------------------------------------------------------------
    def on_video(self, au: AccessUnit, pts_ms: float) -> None:
        if not self._replaying:
            self._anchor(pts_ms)
        self.segmenter.push_video(au, pts_ms)
        self._drain()

    def on_audio(self, frame: AudioFrame, pts_ms: float) -> None:
        return None  # audio comes as AAC from the stage

    def on_aac(self, data: bytes, pts_ms: float) -> None:
        if not self._video:  # AAC comes after the encoder's delay: video is the better clock
            self._anchor(pts_ms)
        self.segmenter.push_audio(data, pts_ms)
        self._drain()

    def on_stream_end(self, reason: str) -> None:
        self.segmenter.end()
        self._release()
        self._drain()

    def _anchor(self, pts_ms: float) -> None:
        if self.epoch is None:
            self.epoch = time.time() - pts_ms / 1000

    # -- segmenter events ------------------------------------------------------------------
    def _drain(self) -> None:
        changed = False
        while (event := self.segmenter.next_event()) is not None:
            if isinstance(event, KeyframeWanted):
                self.stream.request_keyframe()
            else:
                changed = True
        if changed:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def changed(self, timeout: float) -> bool:
        """Wait for the next part/segment/end (True) or ``timeout`` seconds (False)."""
        if self.segmenter.ended:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return False
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
        return True

    # -- end -------------------------------------------------------------------------------
    def _release(self) -> None:
        for sub in (self._frames, self._aac):
            if sub is not None:
                sub.cancel()
        self._frames = self._aac = None

    def close(self) -> None:
        self.closed = True
        if not self.segmenter.ended:
            self.segmenter.end()
        self._release()
        self._drain()


@dataclass(frozen=True, slots=True)
class HlsOutputSettings:
    hls: HlsSettings
    idle: float = 60.0  # seconds without a request before the output closes
    always: bool = False  # start with the stream, not on the first request


class HlsOutputs:
    """Outputs by stream name; see the module docstring for their lifetime."""

    def __init__(
        self,
        hub: StreamHub,
        stages: AacStages,
        settings: HlsOutputSettings,
        loop: asyncio.AbstractEventLoop,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.hub = hub
        self.stages = stages
        self.settings = settings
        self._loop = loop
        self._clock = clock or loop.time
        self._outputs: dict[str, HlsOutput] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.started = 0
        self._watch = hub.watch(self._on_stream) if settings.always else None
        self._track_watches: dict[str, Subscription] = {}

    def __len__(self) -> int:
        return len(self._outputs)

    def get(self, name: str) -> HlsOutput | None:
        return self._outputs.get(name)

    async def open(self, name: str, wait: float) -> HlsOutput | None:
        """The output of stream ``name`` (started now if needed), or None: no such stream,
        or no track HLS can carry. Waits up to ``wait`` for a new stream's tracks."""
        stream = self.hub.get(name)
        output = self._outputs.get(name)
        if output is not None and (stream is None or stream is output.stream):
            self._touch(name, output)
            return output
        if stream is None:
            return None
        if not stream.tracks:
            with contextlib.suppress(TimeoutError):
                await stream.wait_tracks(wait)
        output = self._start(stream)
        if output is not None:
            self._touch(name, output)
        return output

    def _start(self, stream: Stream) -> HlsOutput | None:
        current = self._outputs.get(stream.name)
        if current is not None and current.stream is stream:
            return current
        audio = stream.tracks.get("audio")
        if "video" not in stream.tracks and (audio is None or not can_encode(audio.codec)):
            return None
        if current is not None:
            self._close(stream.name)
        try:
            output = HlsOutput(stream, self.stages, self.settings.hls)
        except ValueError:
            log.exception("stream %s: cannot start HLS", stream.name)
            return None
        self._outputs[stream.name] = output
        self.started += 1
        log.info("stream %s: HLS started", stream.name)
        return output

    def _on_stream(self, stream: Stream) -> None:
        if stream.status is StreamStatus.PUBLISHING and self.hub.get(stream.name) is stream:
            if stream.tracks:
                self._started_always(stream)
            elif stream.name not in self._track_watches:
                self._track_watches[stream.name] = stream.watch_tracks(self._started_always)

    def _started_always(self, stream: Stream) -> None:
        if stream.tracks and self.hub.get(stream.name) is stream:
            watch = self._track_watches.pop(stream.name, None)
            if watch is not None:
                watch.cancel()
            output = self._start(stream)
            if output is not None:
                self._touch(stream.name, output)

    # -- idle ------------------------------------------------------------------------------
    def _touch(self, name: str, output: HlsOutput) -> None:
        output.last_access = self._clock()
        if name not in self._timers:
            self._arm(name, output.last_access + self.settings.idle)

    def _arm(self, name: str, when: float) -> None:
        self._timers[name] = self._loop.call_at(when, self._idle_check, name)

    def _idle_check(self, name: str) -> None:
        self._timers.pop(name, None)
        output = self._outputs.get(name)
        if output is None:
            return
        due = output.last_access + self.settings.idle
        live = output.stream.status is StreamStatus.PUBLISHING
        if self.settings.always and live and self.hub.get(name) is output.stream:
            due = max(due, self._clock() + self.settings.idle)  # "always": kept while live
        if due > self._clock():
            self._arm(name, due)
            return
        log.info("stream %s: HLS stopped (idle %.0f s)", name, self.settings.idle)
        self._close(name)

    def _close(self, name: str) -> None:
        output = self._outputs.pop(name, None)
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        if output is not None:
            output.close()

    def close(self) -> None:
        for name in list(self._outputs):
            self._close(name)
        for sub in [self._watch, *self._track_watches.values()]:
            if sub is not None:
                sub.cancel()
        self._track_watches.clear()


__all__ = ["HlsOutput", "HlsOutputSettings", "HlsOutputs"]
