"""The writer thread of one recording: executes the core's commands on PyAV files.

The event loop only appends to a bounded queue (:meth:`RecordWorker.submit`), so muxing and
AAC encoding never block it. Media commands are dropped when the queue is full (the caller
is told, so video can resynchronise on a keyframe); file open/close commands always go in.
A PyAV error fails that one file (closed as far as possible, reported), never the thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .core import CloseFile, Command, OpenFile, WriteAudio, WriteVideo
from .writer import FileWriter

log = logging.getLogger(__name__)

MAX_QUEUED = 1000  # media commands: ~8 s of 30 fps video with 50 audio frames a second


@dataclass(frozen=True, slots=True)
class ClosedFile:
    """A file that is complete: ``path`` after the rename; ``error`` when writing failed."""

    file_id: int
    path: Path
    frames: dict[str, int]
    size: int
    error: str | None = None


class RecordWorker:
    def __init__(
        self,
        name: str,
        on_closed: Callable[[ClosedFile], None],
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self._on_closed = on_closed
        self._max = max_queued
        self._queue: deque[Command | None] = deque()
        self._media = 0
        self._cond = threading.Condition()
        self._writers: dict[int, FileWriter] = {}
        self._failed: set[int] = set()
        self.dropped = 0
        self.cpu_seconds = 0.0  # thread CPU time spent on commands
        self._thread = threading.Thread(target=self._run, name=f"record-{name}", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        """Media commands waiting for the thread."""
        return self._media

    def submit(self, cmd: Command) -> bool:
        """Queue one command; False (dropped) when it is media and the queue is full."""
        media = isinstance(cmd, WriteVideo | WriteAudio)
        with self._cond:
            if media:
                if self._media >= self._max:
                    self.dropped += 1
                    return False
                self._media += 1
            self._queue.append(cmd)
            self._cond.notify()
        return True

    def stop(self) -> None:
        """No more commands after this; the thread ends once the queue is done."""
        with self._cond:
            self._queue.append(None)
            self._cond.notify()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                cmd = self._queue.popleft()
                if isinstance(cmd, WriteVideo | WriteAudio):
                    self._media -= 1
            if cmd is None:
                break
            t0 = time.thread_time()
            self._execute(cmd)
            self.cpu_seconds += time.thread_time() - t0
        for file_id in list(self._writers):  # never left open, whatever the caller forgot
            self._close(CloseFile(file_id, self._writers[file_id].path))

    def _execute(self, cmd: Command) -> None:
        if isinstance(cmd, OpenFile):
            try:
                cmd.spec.path.parent.mkdir(parents=True, exist_ok=True)
                self._writers[cmd.file_id] = FileWriter(cmd.spec)
            except Exception as exc:  # PyAV, OS: this file fails, the recording goes on
                log.error("record %s: cannot open: %s", cmd.spec.path, exc)
                self._failed.add(cmd.file_id)
                self._on_closed(ClosedFile(cmd.file_id, cmd.spec.path, {}, 0, str(exc)))
            return
        if isinstance(cmd, CloseFile):
            self._close(cmd)
            return
        writer = self._writers.get(cmd.file_id)
        if writer is None:
            return
        try:
            if isinstance(cmd, WriteVideo):
                writer.video(cmd.data, cmd.rel_ms, cmd.keyframe)
            else:
                writer.audio(cmd.codec, cmd.payload, cmd.rel_ms)
        except Exception as exc:
            log.error("record %s: write failed, file closed: %s", writer.path, exc)
            self._close(CloseFile(cmd.file_id, writer.path), str(exc))

    def _close(self, cmd: CloseFile, error: str | None = None) -> None:
        writer = self._writers.pop(cmd.file_id, None)
        if writer is None:
            return
        try:
            writer.close()
        except Exception as exc:
            log.error("record %s: finalizing failed: %s", writer.path, exc)
            error = error or str(exc)
        path = writer.path
        if cmd.final_path != path:
            try:
                os.replace(path, cmd.final_path)
                path = cmd.final_path
            except OSError as exc:
                log.error("record %s: cannot rename to %s: %s", path, cmd.final_path, exc)
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        self._on_closed(ClosedFile(cmd.file_id, path, dict(writer.frames), size, error))


__all__ = ["MAX_QUEUED", "ClosedFile", "RecordWorker"]
