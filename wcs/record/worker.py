"""The writer thread of one recording (a :class:`ThreadWorker`): executes the core's commands
on PyAV files.

The event loop only appends to a bounded queue (:meth:`RecordWorker.submit`), so muxing and
AAC encoding never block it. Media commands are dropped when the queue is full (the caller
is told, so video can resynchronise on a keyframe); file open/close commands always go in.
A PyAV error fails that one file (closed as far as possible, reported), never the thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wcs.media.thread_worker import ThreadWorker

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


class RecordWorker(ThreadWorker[Command]):
    def __init__(
        self,
        name: str,
        on_closed: Callable[[ClosedFile], None],
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self._on_closed = on_closed
        self._writers: dict[int, FileWriter] = {}
        self.dropped = 0
        super().__init__(f"record-{name}", self._execute_all, max_queued, on_exit=self._close_all)

    def submit(self, cmd: Command) -> bool:
        """Queue one command; False (dropped) when it is media and the queue is full."""
        if self.put(cmd, bounded=isinstance(cmd, WriteVideo | WriteAudio)):
            return True
        self.dropped += 1
        return False

    def _execute_all(self, cmds: list[Command]) -> bool:
        for cmd in cmds:
            self._execute(cmd)
        return True

    def _close_all(self) -> None:
        for file_id in list(self._writers):  # never left open, whatever the caller forgot
            self._close(CloseFile(file_id, self._writers[file_id].path))

    def _execute(self, cmd: Command) -> None:
        if isinstance(cmd, OpenFile):
            try:
                cmd.spec.path.parent.mkdir(parents=True, exist_ok=True)
                self._writers[cmd.file_id] = FileWriter(cmd.spec)
            except Exception as exc:  # PyAV, OS: this file fails, the recording goes on
                log.error("record %s: cannot open: %s", cmd.spec.path, exc)
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
