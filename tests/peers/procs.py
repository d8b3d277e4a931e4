"""Start and stop peer processes by PID.

Every peer runs in its own session (``start_new_session``) with its output in a log file;
stopping sends SIGTERM to that PID only, then SIGKILL after a grace period. Processes that
are still registered at interpreter exit are stopped too, so an aborted test run leaves
nothing behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class PeerError(RuntimeError):
    """A peer is missing, did not start, or misbehaved."""


def local_only(host: str) -> bool:
    """Whether a peer may use ``host``: loopback, or the TEST-NET-3 addresses of the test's
    own impaired link (:mod:`tests.peers.netem`); never an address of a real network."""
    return host.startswith(("127.", "203.0.113.")) or host == "::1"


def in_netns(argv: Sequence[str], netns: str | None) -> list[str]:
    """``argv`` run in network namespace ``netns`` (``ip netns exec`` execs it: the PID we
    hold is the peer's own); unchanged when ``netns`` is None."""
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)


def require_binary(name: str, package: str) -> str:
    """Path of an executable; a clear error naming the package when it is missing."""
    path = shutil.which(name)
    if path is None:
        raise PeerError(
            f"{name} is not installed (apt package {package}); run tests/peers/install-peers.sh"
        )
    return path


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    alive: Callable[[], bool] | None = None,
    interval: float = 0.05,
) -> None:
    """Poll ``check`` until true; PeerError when ``timeout`` passes or ``alive`` turns false."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if alive is not None and not alive():
            raise PeerError(f"{what}: the process exited")
        if time.monotonic() >= deadline:
            raise PeerError(f"{what}: not done after {timeout:.0f} s")
        time.sleep(interval)


_running: dict[int, PeerProcess] = {}


class PeerProcess:
    """One started peer: its PID, its log, and stop()."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=full_env,
                start_new_session=True,
            )
        self.pid = self.popen.pid
        _running[self.pid] = self

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, grace: float = 10.0, sig: int = signal.SIGTERM) -> int | None:
        """Stop this PID (``sig``, then SIGKILL after ``grace`` s); returns the exit code."""
        _running.pop(self.pid, None)
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        return self.popen.returncode


@atexit.register
def _stop_leftovers() -> None:
    for proc in list(_running.values()):
        proc.stop(grace=3)


def child_pids(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (all its threads' children), from /proc."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out.extend(int(p) for p in f.read().split())
        except OSError:
            continue
    return out
