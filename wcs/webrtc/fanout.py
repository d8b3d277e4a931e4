"""Viewers served by media worker processes (setting ``webrtc_workers``): the main side.

The main process keeps signaling, the streams, the :class:`Viewer` objects (find_all,
metrics, WS events) and upstream keyframe coalescing. Each worker process
(``wcs.webrtc.fanout_worker``) owns its viewers' ICE/DTLS/SRTP/RTCP and the per-viewer
send, so the fan-out of one packet to hundreds of viewers runs on several cores.

* :class:`WorkerPool` starts the workers, picks the least loaded one for a new viewer,
  restarts one that dies (its viewers FAIL with :data:`WORKER_EXIT`), stops them all.
* :class:`RemotePeer` and :class:`StreamRelay` (:mod:`wcs.webrtc.fanout_remote`): a
  viewer in a worker as a :class:`Viewer` sees it, and the per-(worker, stream) packet sink.

Worker ICE sockets bind in the same media port range as everything else: every port is
taken by a real ``bind`` (wcs.rtp.ports, wcs.webrtc.ice), so a port another process holds
fails the bind and the next one is tried; processes cannot be handed the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from wcs.observability import metrics

from . import fanout_wire as wire
from .answer import SourceTrack
from .fanout_remote import (
    WORKER_EXIT,
    RemotePeer,
    StreamRelay,
    WorkerRefused,
    needs_transcode,
)
from .fanout_worker import WorkerConfig

if TYPE_CHECKING:
    from wcs.app.streams import Stream

log = logging.getLogger(__name__)

MEDIA_SNDBUF = 4 << 20  # ~2 s of a 1.5 Mbit/s stream: a worker's short stall drops nothing
RESTART_DELAY = 1.0  # the first restart of a worker that ran a while
RESTART_DELAY_MAX = 30.0
STABLE_AFTER = 10.0  # a worker that dies sooner after its start waits twice as long
STOP_GRACE = 3.0


class WorkerHandle:
    """One worker process and its two channels, as the main process sees them."""

    def __init__(self, pool: WorkerPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.viewers: dict[int, RemotePeer] = {}
        self.relays: dict[int, StreamRelay] = {}  # by id(stream)
        self.media_drops = 0
        self.bad_media = 0  # as the worker reports it
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.restart_delay = RESTART_DELAY
        self.alive = False
        self._media: socket.socket | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        # The hot path: the media socket's bound send (replaced when the worker restarts).
        self.send_media: Callable[[bytes], int] = _not_running

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def load(self) -> int:
        return len(self.viewers)

    async def start(self) -> None:
        control_main, control_worker = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        media_main, media_worker = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with contextlib.suppress(OSError):
            media_main.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MEDIA_SNDBUF)
        media_main.setblocking(False)
        config = WorkerConfig(**{**self.pool.config_fields, "index": self.index})
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "wcs.webrtc.fanout_worker",
                    str(control_worker.fileno()),
                    str(media_worker.fileno()),
                    config.to_json(),
                ],
                pass_fds=(control_worker.fileno(), media_worker.fileno()),
                stdin=subprocess.DEVNULL,
            )
        finally:
            control_worker.close()
            media_worker.close()
        reader, self._writer = await asyncio.open_connection(sock=control_main)
        self._media = media_main
        self.send_media = media_main.send
        self.alive = True
        self.started_at = time.monotonic()
        self._reader_task = asyncio.create_task(self._read(reader))
        log.info("media worker %d started (pid %d)", self.index, self.process.pid)

    def send(self, message: wire.Message) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(wire.encode(message))

    def relay_for(self, stream: Stream) -> StreamRelay:
        relay = self.relays.get(id(stream))
        if relay is None or relay.stream is not stream:
            relay = StreamRelay(self, stream, self.pool.stream_key(stream))
            self.relays[id(stream)] = relay
        return relay

    def drop_relay(self, relay: StreamRelay) -> None:
        relay.close()
        if self.relays.get(id(relay.stream)) is relay:
            del self.relays[id(relay.stream)]

    async def _read(self, reader: asyncio.StreamReader) -> None:
        decoder = wire.FrameDecoder()
        try:
            while data := await reader.read(65536):
                for message in decoder.feed(data):
                    try:
                        self._dispatch(message)
                    except Exception:  # one viewer's callback bug must not end the channel
                        log.exception("media worker %d: error handling %r", self.index, message)
        except wire.WireError as exc:
            log.error("media worker %d: bad control data (%s)", self.index, exc)
        except (ConnectionError, OSError):
            pass
        finally:
            self._ended()

    def _dispatch(self, message: wire.Message) -> None:
        if isinstance(message, wire.WorkerStats):
            self.bad_media = message.bad_media
            if message.dtls_failures > 0:
                metrics.DTLS_FAILURES.inc(message.dtls_failures)
            if message.srtp_failures > 0:
                metrics.SRTP_FAILURES.inc(message.srtp_failures)
            for key, stats in message.viewers.items():
                peer = self.viewers.get(int(key)) if key.isdigit() else None
                if peer is not None:
                    peer.on_stats(stats)
            return
        viewer = getattr(message, "viewer", None)
        peer = self.viewers.get(viewer) if isinstance(viewer, int) else None
        if peer is not None:
            peer.on_message(message)

    def _ended(self) -> None:
        """The control channel ended: the worker exited (or is to be stopped)."""
        if not self.alive:
            return
        self.alive = False
        self.send_media = _not_running
        if self._media is not None:
            self._media.close()
            self._media = None
        if self._writer is not None:
            self._writer.close()
        for relay in list(self.relays.values()):
            relay.close()
        self.relays.clear()
        peers = list(self.viewers.values())
        self.viewers.clear()
        if not self.pool.closing:
            log.error(
                "media worker %d (pid %s) exited: %d viewers failed",
                self.index,
                self.pid,
                len(peers),
            )
        for peer in peers:
            peer.worker_died()
        self._reap()
        if not self.pool.closing:
            self.pool.restart_later(self)

    def _reap(self) -> None:
        proc = self.process
        if proc is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0)

    async def stop(self) -> None:
        """Close the control channel (the worker exits on EOF); SIGTERM, SIGKILL if slow."""
        proc = self.process
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({self._reader_task}, timeout=STOP_GRACE)
        self._ended()
        if proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                await asyncio.to_thread(proc.wait, STOP_GRACE)
                return
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, sig)
        await asyncio.to_thread(proc.wait)


class WorkerPool:
    def __init__(self, size: int, config: WorkerConfig) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.config_fields = {
            f: getattr(config, f) for f in WorkerConfig.__dataclass_fields__ if f != "index"
        }
        self.workers = [WorkerHandle(self, i) for i in range(size)]
        self.closing = False
        self._viewer_ids = itertools.count(1)
        self._stream_keys: dict[int, tuple[Stream, int]] = {}
        self._next_key = itertools.count(1)
        self._restarts: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for worker in self.workers:
            await worker.start()

    def stream_key(self, stream: Stream) -> int:
        """A small number naming ``stream`` in media headers (the same on every worker)."""
        entry = self._stream_keys.get(id(stream))
        if entry is None or entry[0] is not stream:
            entry = (stream, next(self._next_key) & 0xFFFFFFFF)
            self._stream_keys[id(stream)] = entry
            # Forget streams no longer published (the dict would otherwise only grow).
            for k, (s, _) in list(self._stream_keys.items()):
                if not s.published and s is not stream:
                    del self._stream_keys[k]
        return entry[1]

    def peer(self, offer: str, tracks: list[SourceTrack]) -> RemotePeer:
        """A peer on the least loaded running worker; WorkerRefused when none runs."""
        running = [w for w in self.workers if w.alive]
        if not running:
            raise WorkerRefused(WORKER_EXIT, 503)
        worker = min(running, key=lambda w: w.load)
        return RemotePeer(worker, next(self._viewer_ids) & 0xFFFFFFFF or 1, offer, tracks)

    def restart_later(self, worker: WorkerHandle) -> None:
        task = asyncio.ensure_future(self._restart(worker))
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _restart(self, worker: WorkerHandle) -> None:
        lived = time.monotonic() - worker.started_at
        worker.restart_delay = next_restart_delay(worker.restart_delay, lived)
        old = worker.process
        if old is not None:  # reap it (its exit is what brought us here)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(old.wait, STOP_GRACE)
        await asyncio.sleep(worker.restart_delay)
        if self.closing or worker.alive:
            return
        try:
            await worker.start()
        except OSError as exc:
            log.error("media worker %d: restart failed (%s)", worker.index, exc)
            self.restart_later(worker)

    def pids(self) -> list[int]:
        return [w.pid for w in self.workers if w.alive and w.pid is not None]

    async def close(self) -> None:
        self.closing = True
        for task in list(self._restarts):
            task.cancel()
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)


def next_restart_delay(previous: float, lived: float) -> float:
    """Back off while a worker keeps dying young (a crash at start must not spin)."""
    if lived >= STABLE_AFTER:
        return RESTART_DELAY
    return min(previous * 2, RESTART_DELAY_MAX)


def _not_running(data: bytes) -> int:
    raise ConnectionError("media worker not running")


__all__ = ["WORKER_EXIT", "RemotePeer", "WorkerPool", "WorkerRefused", "needs_transcode"]
