"""A push's :class:`PushPipeline` on its own thread, fed from the event loop.

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
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .muxer import FlvTag
from .pipeline import PushPipeline

log = logging.getLogger(__name__)

QUEUE_LIMIT = 400  # ~4 s of 25 fps video plus 50 audio frames/s


@dataclass(slots=True)
class QueueDrops:
    video: int = 0
    audio: int = 0


class PipelineWorker:
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
        self.limit = limit
        self.drops = QueueDrops()
        self.failed: BaseException | None = None
        self._loop = loop
        self._on_tags = on_tags
        self._on_need_keyframe = on_need_keyframe
        # (kind, pts, payload) with kind "v" (payload: NAL list), "a" (codec, bytes), None: stop
        self._queue: deque[tuple[str, float, object] | None] = deque()
        self._cond = threading.Condition()
        self._video_gap = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"wcs-{name}", daemon=True)
        self._thread.start()

    # -- loop side -------------------------------------------------------------------------

    def put_video(self, pts_ms: float, nals: list[bytes], keyframe: bool) -> None:
        if self._closed:
            return
        if self._video_gap and not keyframe:
            self.drops.video += 1
            return
        if len(self._queue) >= self.limit:
            self.drops.video += 1
            if not self._video_gap:
                self._video_gap = True
                self._on_need_keyframe()
            return
        self._video_gap = False
        self._put(("v", pts_ms, nals))

    def put_audio(self, pts_ms: float, codec: str, payload: bytes) -> None:
        if self._closed:
            return
        if len(self._queue) >= self.limit:
            self.drops.audio += 1
            return
        self._put(("a", pts_ms, (codec, payload)))

    def close(self) -> None:
        """Stop the thread after what is queued (its tags are still delivered)."""
        if not self._closed:
            self._closed = True
            self._put(None)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def _put(self, item: tuple[str, float, object] | None) -> None:
        with self._cond:
            self._queue.append(item)
            if len(self._queue) == 1:
                self._cond.notify()

    # -- thread side -----------------------------------------------------------------------

    def _run(self) -> None:
        pipeline = self.pipeline
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                items = list(self._queue)
                self._queue.clear()
            tags: list[FlvTag] = []
            stop = False
            for item in items:
                if item is None:
                    stop = True
                    break
                kind, pts, payload = item
                try:
                    if kind == "v":
                        assert isinstance(payload, list)
                        tags += pipeline.video(pts, payload)
                    else:
                        assert isinstance(payload, tuple)
                        tags += pipeline.audio(pts, payload[0], payload[1])
                except Exception as exc:  # a bad frame must not kill the push silently
                    log.exception("push pipeline failed")
                    self.failed = exc
                    stop = True
                    break
            if tags:
                self._deliver(tags)
            if stop:
                return

    def _deliver(self, tags: list[FlvTag]) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody to send to
            self._loop.call_soon_threadsafe(self._on_tags, tags)
