"""ThreadWorker: bounded items are refused when the queue is full, control items never are;
the thread handles everything queued before close, stops when handle says so, runs on_exit."""

from __future__ import annotations

import threading

from wcs.media.thread_worker import ThreadWorker


def test_bounded_items_refused_when_full_control_items_always_queued() -> None:
    busy = threading.Event()
    gate = threading.Event()
    seen: list[int] = []
    exited: list[bool] = []

    def handle(batch: list[int]) -> bool:
        busy.set()
        gate.wait(5)
        seen.extend(batch)
        return True

    worker: ThreadWorker[int] = ThreadWorker(
        "t", handle, limit=2, on_exit=lambda: exited.append(True)
    )
    assert worker.put(0)
    assert busy.wait(5)  # the thread holds item 0 in handle: 1 and 2 stay queued
    assert worker.put(1) and worker.put(2)
    assert worker.queued == 2
    assert not worker.put(3)  # full
    assert worker.put(4, bounded=False)
    worker.close()
    assert not worker.put(5, bounded=False)  # closed
    gate.set()
    assert worker.join(5)
    assert seen == [0, 1, 2, 4]
    assert exited == [True] and worker.queued == 0


def test_handle_returning_false_ends_the_thread() -> None:
    calls: list[list[str]] = []

    def handle(batch: list[str]) -> bool:
        calls.append(batch)
        return False

    worker: ThreadWorker[str] = ThreadWorker("t", handle, limit=10)
    worker.put("a")
    assert worker.join(5)
    assert calls == [["a"]]
