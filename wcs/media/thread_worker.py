"""A daemon thread fed from the event loop through a bounded queue: the one way wcs runs
blocking media work (PyAV muxing, AAC encoding) off the loop.

The loop side only appends (``put``) and wakes the thread when it sleeps; the thread takes
everything queued at once and hands it to ``handle``. Items put with ``bounded=True`` count
against ``limit`` and are refused (``put`` returns False) when the thread is that far behind,
so the owner decides what a drop means; control items (``bounded=False``) always go in.
``close`` lets the thread finish what is queued, then run ``on_exit`` and end.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ThreadWorker(Generic[T]):
    def __init__(
        self,
        name: str,
        handle: Callable[[list[T]], bool],
        limit: int,
        on_exit: Callable[[], None] = lambda: None,
    ) -> None:
        """``handle(batch)`` runs on the thread; returning False ends the thread."""
        self.limit = limit
        self.cpu_seconds = 0.0  # thread CPU time spent in ``handle``
        self._handle = handle
        self._on_exit = on_exit
        # (item, bounded); None is the stop mark
        self._queue: deque[tuple[T, bool] | None] = deque()
        self._bounded = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        """Bounded items waiting for the thread."""
        return self._bounded

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: T, bounded: bool = True) -> bool:
        """Queue one item; False (not queued) when bounded and the queue is full or closed."""
        with self._cond:
            if self._closed:
                return False
            if bounded:
                if self._bounded >= self.limit:
                    return False
                self._bounded += 1
            self._queue.append((item, bounded))
            if len(self._queue) == 1:  # the thread may sleep: one wake-up per batch
                self._cond.notify()
        return True

    def close(self) -> None:
        """No more items; the thread ends once what is queued is handled."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._queue.append(None)
            self._cond.notify()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue:
                        self._cond.wait()
                    entries = list(self._queue)
                    self._queue.clear()
                    batch: list[T] = []
                    stop = False
                    for entry in entries:
                        if entry is None:
                            stop = True
                            break
                        batch.append(entry[0])
                        self._bounded -= entry[1]
                t0 = time.thread_time()
                go_on = self._handle(batch) if batch else True
                self.cpu_seconds += time.thread_time() - t0
                if stop or not go_on:
                    return
        finally:
            self._on_exit()


__all__ = ["ThreadWorker"]
