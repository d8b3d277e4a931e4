"""A private ``redis-server`` (Debian package) for the cluster tests, started by PID.

Never the system service: each test starts its own on a free loopback port with no
persistence (``--save '' --appendonly no``), so a restart really starts empty -- the case
where the nodes must register again what they hold.

    with start_redis(tmp_path) as r:      # r.url = "redis://127.0.0.1:<port>/0"
        r.restart()                       # same port, empty data
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.peers.ports import free_port
from tests.peers.procs import PeerError, PeerProcess, require_binary, wait_until


class RedisServer:
    def __init__(self, rundir: Path, port: int) -> None:
        self.binary = require_binary("redis-server", "redis-server")
        self.rundir = rundir
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: PeerProcess | None = None
        self._starts = 0

    def start(self) -> None:
        self._starts += 1
        argv = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.rundir),
        ]  # fmt: skip
        self.proc = PeerProcess("redis-server", argv, self.rundir / f"redis-{self._starts}.log")
        proc = self.proc
        wait_until(self.ping, 10, "redis-server start", alive=proc.alive)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(grace=5)
            self.proc = None

    def restart(self) -> None:
        """Stop and start on the same port: every key is gone (no persistence)."""
        self.stop()
        self.start()


@contextmanager
def start_redis(rundir: Path) -> Iterator[RedisServer]:
    rundir.mkdir(parents=True, exist_ok=True)
    server = RedisServer(rundir, free_port())
    try:
        server.start()
    except PeerError:
        server.stop()
        raise
    try:
        yield server
    finally:
        server.stop()
