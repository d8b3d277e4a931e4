"""CPU time and memory of a process from /proc (100 % = one core)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from tests.peers.procs import child_pids as children

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the whole process (all threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of ``pid`` and of each of its children, by PID."""
    out = {pid: cpu_seconds(pid)}
    for child in children(pid):
        try:
            out[child] = cpu_seconds(child)
        except OSError:  # exited meanwhile
            continue
    return out


def rss_bytes(pid: int) -> int:
    """RSS of ``pid`` and its children."""
    total = 0
    for p in [pid, *children(pid)]:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def machine_busy() -> tuple[float, float, float]:
    """(busy, steal, total) jiffies of all CPUs so far (guest time is inside user)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]][:8]
    idle = v[3] + v[4]
    steal = v[7] if len(v) > 7 else 0
    return sum(v) - idle - steal, steal, sum(v)


def cpu_set_times(cpus: set[int]) -> tuple[int, int, int]:
    """(busy, softirq, total) jiffies so far of the CPUs in ``cpus``. Busy includes the
    softirq time: on loopback, delivering a sent datagram into the receiver's socket runs
    in softirq on the *sender's* CPU and is in no process's /proc CPU time."""
    busy = soft = total = 0
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu") or line[3] == " ":
                continue
            name, *vals = line.split()
            if int(name[3:]) not in cpus:
                continue
            v = [int(x) for x in vals[:8]]
            busy += sum(v) - v[3] - v[4] - v[7]  # minus idle, iowait, steal
            soft += v[6]
            total += sum(v)
    return busy, soft, total


@dataclass
class Window:
    """CPU seconds of ``pid`` and its children (media workers), and the machine's steal
    share, over a measured window. ``children_cpu``: the children's part of ``cpu``."""

    pid: int
    t0: float = 0.0
    c0: dict[int, float] | None = None
    children_cpu: float = 0.0
    m0: tuple[float, float, float] = (0.0, 0.0, 0.0)
    seconds: float = 0.0
    cpu: float = 0.0
    steal_pct: float = 0.0
    machine_busy_pct: float = 0.0  # all CPUs, all processes: 100 = every CPU busy

    def start(self) -> Window:
        self.t0, self.c0, self.m0 = time.monotonic(), tree_cpu(self.pid), machine_busy()
        return self

    def stop(self) -> Window:
        self.seconds = time.monotonic() - self.t0
        now = tree_cpu(self.pid)
        c0 = self.c0 or {}
        used = {p: c - c0.get(p, 0.0) for p, c in now.items()}
        self.cpu = sum(used.values())
        self.children_cpu = self.cpu - used[self.pid]
        busy, steal, total = machine_busy()
        dt = total - self.m0[2]
        self.steal_pct = 100.0 * (steal - self.m0[1]) / dt if dt else 0.0
        self.machine_busy_pct = 100.0 * (busy - self.m0[0]) / dt if dt else 0.0
        return self

    @property
    def cpu_pct(self) -> float:
        return 100.0 * self.cpu / self.seconds if self.seconds else 0.0
