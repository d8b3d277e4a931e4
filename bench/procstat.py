"""CPU time and memory of a process from /proc (100 % = one core)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the whole process (all threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def machine_busy() -> tuple[float, float, float]:
    """(busy, steal, total) jiffies of all CPUs so far (guest time is inside user)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]][:8]
    idle = v[3] + v[4]
    steal = v[7] if len(v) > 7 else 0
    return sum(v) - idle - steal, steal, sum(v)


@dataclass
class Window:
    """CPU seconds of ``pid`` and the machine's steal share over a measured window."""

    pid: int
    t0: float = 0.0
    c0: float = 0.0
    m0: tuple[float, float, float] = (0.0, 0.0, 0.0)
    seconds: float = 0.0
    cpu: float = 0.0
    steal_pct: float = 0.0
    machine_busy_pct: float = 0.0  # all CPUs, all processes: 100 = every CPU busy

    def start(self) -> Window:
        self.t0, self.c0, self.m0 = time.monotonic(), cpu_seconds(self.pid), machine_busy()
        return self

    def stop(self) -> Window:
        self.seconds = time.monotonic() - self.t0
        self.cpu = cpu_seconds(self.pid) - self.c0
        busy, steal, total = machine_busy()
        dt = total - self.m0[2]
        self.steal_pct = 100.0 * (steal - self.m0[1]) / dt if dt else 0.0
        self.machine_busy_pct = 100.0 * (busy - self.m0[0]) / dt if dt else 0.0
        return self

    @property
    def cpu_pct(self) -> float:
        return 100.0 * self.cpu / self.seconds if self.seconds else 0.0
