"""One recording of one stream: a frame sink on the event loop that feeds
:class:`RecordingCore` and hands its commands to the recording's writer thread.

The sink methods only decide and enqueue (the stream calls them on its receive path);
closed files come back from the thread through ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from wcs.app.aac_stage import AacStages, can_encode
from wcs.app.streams import Stream, Subscription
from wcs.hls.fmp4 import AAC_FRAME_SAMPLES
from wcs.media.audio import AudioFrame
from wcs.media.h264.nal import AccessUnit

from .container import choose_container
from .core import Command, RecordingCore, StreamFacts, WriteVideo
from .worker import ClosedFile, RecordWorker
from .writer import AAC_RATE

log = logging.getLogger(__name__)


def stream_facts(stream: Stream) -> StreamFacts:
    video = stream.tracks.get("video")
    audio = stream.tracks.get("audio")
    return StreamFacts(
        name=stream.name,
        media_session_id=stream.media_session_id,
        call_id=stream.call_id,
        video_codec=(video.frame_codec or video.codec) if video is not None else None,
        audio_codec=audio.codec if audio is not None else None,
        epoch_ms_at_zero=stream.created * 1000.0,
    )


class Recorder:
    def __init__(
        self,
        stream: Stream,
        core: RecordingCore,
        loop: asyncio.AbstractEventLoop,
        on_closed: Callable[[Recorder, ClosedFile], None],
        on_finished: Callable[[Recorder], None],
        aac_stages: AacStages | None = None,
    ) -> None:
        self.stream = stream
        self._aac_stages = aac_stages
        self._aac: Subscription | None = None  # the stream's shared AAC stage, when used
        self.core = core
        self._loop = loop
        self._on_closed = on_closed
        self._on_finished = on_finished
        self.worker = RecordWorker(stream.name, self._closed_in_thread)
        self.subscription: Subscription | None = None
        self.finished = False
        self.closed_files: list[ClosedFile] = []

    @property
    def media_session_id(self) -> str:
        return self.stream.media_session_id

    @property
    def file_name(self) -> str | None:
        """The file being written (its name may still hold ``{endTime}``)."""
        cur = self.core.current
        return cur.path.name if cur is not None else None

    def start(self) -> None:
        self._aac = self._shared_aac()
        self.subscription = self.stream.subscribe_frames(self)
        if self.core.current is None and "video" in self.stream.tracks:
            self.stream.request_keyframe()

    def stop(self) -> None:
        """Close the file(s) and end the recording (REST terminate, restart, shutdown)."""
        if self.subscription is not None:
            self.subscription.cancel()
        self._finish()

    def _shared_aac(self) -> Subscription | None:
        """Join the stream's shared AAC stage when every file of this recording has AAC
        audio (with or without video); Opus kept as Opus (MKV) is written as received."""
        facts = stream_facts(self.stream)
        container = self.core.container
        if self._aac_stages is None or not can_encode(facts.audio_codec):
            return None
        plans = (
            choose_container(container, v, facts.audio_codec) for v in (facts.video_codec, None)
        )
        if any(p.audio != "aac" for p in plans):
            return None
        try:
            return self._aac_stages.acquire(self.stream, self)[1]
        except ValueError:
            return None

    # ------------------------------------------------------------------ FrameSink
    def on_video(self, au: AccessUnit, pts_ms: float) -> None:
        self._submit(self.core.video(au, pts_ms))

    def on_audio(self, frame: AudioFrame, pts_ms: float) -> None:
        if self._aac is None:  # else the shared stage brings it as AAC (on_aac)
            self._submit(self.core.audio(frame, pts_ms))

    def on_aac(self, data: bytes, pts_ms: float) -> None:
        if not self.finished:
            frame = AudioFrame("aac", 0, AAC_RATE, data, AAC_FRAME_SAMPLES)
            self._submit(self.core.audio(frame, pts_ms))

    def on_stream_end(self, reason: str) -> None:
        self._finish()

    # ------------------------------------------------------------------ internals
    def _submit(self, commands: list[Command]) -> None:
        for cmd in commands:
            if not self.worker.submit(cmd) and isinstance(cmd, WriteVideo):
                self.core.video_dropped()
        if self.core.wants_keyframe:
            self.core.wants_keyframe = False
            self.stream.request_keyframe()

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self._aac is not None:
            self._aac.cancel()
        self._submit(self.core.end())
        self.worker.close()
        self._on_finished(self)

    def _closed_in_thread(self, closed: ClosedFile) -> None:
        try:
            self._loop.call_soon_threadsafe(self._closed, closed)
        except RuntimeError:  # the loop is gone (shutdown): the file is complete anyway
            log.info("record %s closed after the loop ended", closed.path)

    def _closed(self, closed: ClosedFile) -> None:
        self.closed_files.append(closed)
        self._on_closed(self, closed)


__all__ = ["Recorder", "stream_facts"]
