"""RecorderManager: the recordings of a server, automatic and on demand, and the on-record
hook.

* With ``record_sip_streams`` on, every stream a SIP call publishes is recorded from the
  moment it is PUBLISHING until it ends.
* ``start(stream, template, rotation)`` (``/recorder/startup``) records a stream; on a stream
  that is already recording it closes the current file and starts a new recording with the
  new settings (WCS behaviour).
* After each file is closed (end, stop or rotation) the hook command runs with the stream
  name and the absolute file path as its last two arguments, as an asyncio subprocess: it
  never blocks the loop, its exit status is logged.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from pathlib import Path

from wcs.app.aac_stage import AacStages
from wcs.app.streams import Stream, StreamHub, StreamStatus

from .container import CONTAINERS
from .core import RecordingCore
from .recorder import Recorder, stream_facts
from .rotation import Rotation, parse_rotation
from .template import validate_template
from .worker import ClosedFile

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 10.0
HOOK_TIMEOUT_S = 30.0


class RecorderManager:
    def __init__(
        self,
        hub: StreamHub,
        record_dir: str | Path,
        template: str,
        rotation: str = "",
        container: str = "auto",
        hook: str = "",
        auto: bool = False,
        aac_stages: AacStages | None = None,
    ) -> None:
        """Raises ValueError (naming the setting) for a bad template, rotation or container."""
        self.hub = hub
        self.aac_stages = aac_stages  # AAC audio from the stream's shared stage when given
        self.record_dir = Path(record_dir).resolve()
        self.template = validate_template(template)
        self.rotation = parse_rotation(rotation)
        if container.lower() not in CONTAINERS:
            raise ValueError(f"record_container {container!r}: one of {', '.join(CONTAINERS)}")
        self.container = container.lower()
        self.hook = shlex.split(hook) if hook.strip() else []
        self.auto = auto
        self._recorders: dict[str, Recorder] = {}
        self._finishing: list[Recorder] = []
        self._hook_tasks: set[asyncio.Task[None]] = set()
        self.hook_runs: list[tuple[str, str, int | None]] = []  # (stream, path, exit status)
        self._watch = hub.watch(self._on_stream)

    # ------------------------------------------------------------------ API
    def start(
        self, stream: Stream, template: str | None = None, rotation: Rotation | None = None
    ) -> Recorder:
        old = self._recorders.get(stream.media_session_id)
        if old is not None:
            old.stop()
        core = RecordingCore(
            lambda: stream_facts(stream),
            self.record_dir,
            validate_template(template) if template else self.template,
            rotation if rotation is not None else self.rotation,
            self.container,
        )
        loop = asyncio.get_running_loop()
        rec = Recorder(stream, core, loop, self._closed, self._finished, self.aac_stages)
        self._recorders[stream.media_session_id] = rec
        log.info("stream %s: recording to %s", stream.name, self.record_dir)
        rec.start()
        return rec

    def stop(self, media_session_id: str) -> bool:
        rec = self._recorders.get(media_session_id)
        if rec is None:
            return False
        rec.stop()
        return True

    def get(self, media_session_id: str) -> Recorder | None:
        return self._recorders.get(media_session_id)

    def all(self) -> list[Recorder]:
        """The running recordings."""
        return list(self._recorders.values())

    async def close(self) -> None:
        """Stop every recording, wait for the files to be finalized and the hooks to end."""
        self._watch.cancel()
        for rec in list(self._recorders.values()):
            rec.stop()
        workers = [r.worker for r in self._finishing]
        self._finishing = []
        for worker in workers:
            if not await asyncio.to_thread(worker.join, JOIN_TIMEOUT_S):
                log.error("a record writer did not finish in %.0f s", JOIN_TIMEOUT_S)
        await asyncio.sleep(0)  # let the threads' close reports run (hooks start there)
        if self._hook_tasks:
            await asyncio.wait(set(self._hook_tasks), timeout=HOOK_TIMEOUT_S)

    # ------------------------------------------------------------------ events
    def _on_stream(self, stream: Stream) -> None:
        if (
            self.auto
            and stream.status is StreamStatus.PUBLISHING
            and stream.call_id is not None
            and stream.media_session_id not in self._recorders
        ):
            self.start(stream)

    def _finished(self, rec: Recorder) -> None:
        if self._recorders.get(rec.media_session_id) is rec:
            del self._recorders[rec.media_session_id]
        self._finishing = [r for r in self._finishing if r.worker.join(0) is False]
        self._finishing.append(rec)

    def _closed(self, rec: Recorder, closed: ClosedFile) -> None:
        log.info(
            "stream %s: record file %s closed (%d bytes, %d video / %d audio frames)%s",
            rec.stream.name,
            closed.path,
            closed.size,
            closed.frames.get("video", 0),
            closed.frames.get("audio", 0),
            f", error: {closed.error}" if closed.error else "",
        )
        if self.hook and closed.size > 0:
            task = asyncio.get_running_loop().create_task(
                self._run_hook(rec.stream.name, str(closed.path))
            )
            self._hook_tasks.add(task)
            task.add_done_callback(self._hook_tasks.discard)

    async def _run_hook(self, stream_name: str, path: str) -> None:
        status: int | None = None
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.hook,
                stream_name,
                path,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                status = await asyncio.wait_for(proc.wait(), HOOK_TIMEOUT_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                log.error("on-record hook for %s killed after %.0f s", path, HOOK_TIMEOUT_S)
        except OSError as exc:
            log.error("on-record hook %s cannot run: %s", self.hook[0], exc)
        self.hook_runs.append((stream_name, path, status))
        if status:
            log.warning("on-record hook for %s exited with %s", path, status)


__all__ = ["RecorderManager"]
