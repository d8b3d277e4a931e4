"""A push's :class:`PushPipeline` on its own thread (a :class:`ThreadWorker`), fed from the
event loop.

Frame sinks run on the event loop and must not block, but AAC encoding of real speech costs
~0.2 ms per 20 ms frame (measured, see bench/RESULTS.md), and PyAV releases the GIL for part
of it. So the sink only enqueues (``put_video``/``put_audio``: a deque append and, when the
thread sleeps, one wake-up); the thread converts, and hands the tags back to the loop with
``call_soon_threadsafe`` in arrival order.

The queue is bounded: when the thread falls behind, new video is dropped up to the next
keyframe (inter frames after a gap cannot be decoded) and the owner is told to ask for one;
audio is dropped frame by frame. Drops are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ..media.thread_worker import ThreadWorker
from .muxer import FlvTag
from .pipeline import PushPipeline

log = logging.getLogger(__name__)

QUEUE_LIMIT = 400  # ~4 s of 25 fps video plus 50 audio frames/s


@dataclass(slots=True)
class QueueDrops:
    video: int = 0
    audio: int = 0


# (kind, pts, payload): kind "v" (payload: NAL list), "a" (payload: (codec, bytes)) or "c"
# (payload: an AAC frame of the stream's shared stage)
_Frame = tuple[str, float, object]


class PipelineWorker(ThreadWorker[_Frame]):
    def __init__(
        self,
        pipeline: PushPipeline,
        loop: asyncio.AbstractEventLoop,
        on_tags: Callable[[list[FlvTag]], None],
        on_need_keyframe: Callable[[], None] = lambda: None,
        limit: int = QUEUE_LIMIT,
        name: str = "push",
    ) -> None:
        self.pipeline = pipeline
        self.drops = QueueDrops()
        self.failed: BaseException | None = None
        self._loop = loop
        self._on_tags = on_tags
        self._on_need_keyframe = on_need_keyframe
        self._video_gap = False
        super().__init__(f"wcs-{name}", self._convert, limit)

    # -- loop side -------------------------------------------------------------------------

    def put_video(self, pts_ms: float, nals: list[bytes], keyframe: bool) -> None:
        if self.closed:
            return
        if self._video_gap and not keyframe:
            self.drops.video += 1
            return
        if not self.put(("v", pts_ms, nals)):
            self.drops.video += 1
            if not self._video_gap:
                self._video_gap = True
                self._on_need_keyframe()
            return
        self._video_gap = False

    def put_audio(self, pts_ms: float, codec: str, payload: bytes) -> None:
        if not self.closed and not self.put(("a", pts_ms, (codec, payload))):
            self.drops.audio += 1

    def put_aac(self, pts_ms: float, frame: bytes) -> None:
        """An AAC frame of the stream's shared stage."""
        if not self.closed and not self.put(("c", pts_ms, frame)):
            self.drops.audio += 1

    # -- thread side -----------------------------------------------------------------------

    def _convert(self, frames: list[_Frame]) -> bool:
        pipeline = self.pipeline
        tags: list[FlvTag] = []
        ok = True
        for kind, pts, payload in frames:
            try:
                if kind == "v":
                    assert isinstance(payload, list)
                    tags += pipeline.video(pts, payload)
                elif kind == "c":
                    assert isinstance(payload, bytes)
                    tags += pipeline.aac(pts, payload)
                else:
                    assert isinstance(payload, tuple)
                    tags += pipeline.audio(pts, payload[0], payload[1])
            except Exception as exc:  # a bad frame must not kill the push silently
                log.exception("push pipeline failed")
                self.failed = exc
                ok = False
                break
        if tags:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody to send to
                self._loop.call_soon_threadsafe(self._on_tags, tags)
        return ok
