"""One server under test, one live stream, light viewers added in steps; each step measured.

The shape shared by the saturation and comparison runs of ``bench.saturation``: the stream
starts (wcs: an A+V call from the callee farm process; Janus: this process's ``Feeder``
into the mountpoint), a baseline window measures the server with the stream alone (the
idle cost of a live call), then each ``step(n)`` adds viewers up to ``n``, lets them
settle and measures a window: the server's CPU (its process and its media workers, from
/proc), CPU per forwarded packet (baseline subtracted), loss, send → kernel-arrival
latency, RSS, this process's own CPU (``time.process_time``) and the machine's busy and
steal shares.

``Pinning``: the server's process tree (every thread) on one CPU set, this process and the
callee farm on the others, so the viewer farm never takes the measured server's CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procstat import Window, cpu_seconds, cpu_set_times, rss_bytes
from bench.targets import Target, WcsTarget
from bench.trace_feed import Destination, Feeder, Trace
from bench.viewer_farm import Farm
from tests.peers.procs import child_pids


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = child_pids(todo.pop())
        out += kids
        todo += kids
    return out


def pin_threads(pid: int, cpus: set[int]) -> None:
    """Every thread of ``pid`` onto ``cpus`` (threads made later inherit it)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(tid), cpus)


def pin_tree(pid: int, cpus: set[int]) -> None:
    """``pid`` and its descendants (media workers), every thread."""
    for p in [pid, *descendants(pid)]:
        pin_threads(p, cpus)


@dataclass(frozen=True)
class Pinning:
    server: set[int] = field(default_factory=set)  # empty: no pinning at all
    farm: set[int] = field(default_factory=set)

    @classmethod
    def split(cls, server_cpus: str) -> Pinning:
        """``server_cpus`` ("0", "0,1") for the server, every other CPU for the farms."""
        allowed = os.sched_getaffinity(0)
        server = {int(c) for c in server_cpus.split(",") if c.strip()}
        farm = allowed - server
        if not server or not farm or not server <= allowed:
            raise ValueError(f"cannot split CPUs {sorted(allowed)} as server {sorted(server)}")
        return cls(server, farm)

    def describe(self) -> str:
        if not self.server:
            return "none"
        return f"server on CPU {sorted(self.server)}, farms on CPU {sorted(self.farm)}"

    def this_process(self) -> None:
        if self.farm:  # not the servers this process started: those go to ``server``
            pin_threads(os.getpid(), self.farm)

    def target(self, target: Target) -> None:
        if not self.server:
            return
        pin_tree(target.pid, self.server)
        farm = getattr(target, "farm", None)  # WcsTarget's callee farm process
        if farm is not None:
            pin_tree(farm.pid, self.farm)


MAX_LOSS_PCT = 0.1
FARM_MAX_PCT = 90.0  # the viewer farm (one process) near a core: more steps measure it
LO_RPS = Path("/sys/class/net/lo/queues/rx-0/rps_cpus")


@contextlib.contextmanager
def loopback_rps(cpus: set[int]) -> Iterator[str]:
    """Receive work of loopback datagrams onto ``cpus`` (RPS on ``lo``), restored after.

    Without it, delivering each datagram a server sends into the viewer's socket runs
    inline in the server's ``sendto`` (softirq on the server's CPU): work a real server's
    receivers do on their own machines. Machine-wide and needs root; the mask it set."""
    old = LO_RPS.read_text().strip()
    mask = f"{sum(1 << c for c in cpus):x}"
    LO_RPS.write_text(mask + "\n")
    try:
        yield mask
    finally:
        LO_RPS.write_text(old + "\n")


@dataclass
class Ladder:
    target: Target
    trace: Trace
    farm: Farm
    pinning: Pinning = field(default_factory=Pinning)
    warmup: float = 3.0
    window: float = 10.0
    feeder: Feeder | None = None
    baseline: dict[str, Any] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _sock: socket.socket | None = None
    _base_cpu_per_s: float = 0.0
    _rss0: int = 0

    async def start(self, baseline_seconds: float) -> dict[str, Any]:
        """Start the stream, warm up, measure the server with the stream and no viewer."""
        self.pinning.this_process()
        self.pinning.target(self.target)
        feeder = self.feeder = Feeder(self.trace)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._task = asyncio.create_task(feeder.run())
        if isinstance(self.target, WcsTarget):
            await self.target.start_feed(feeder)
        else:
            t = self.target
            feeder.add(Destination(self._sock, t.audio, t.video, log=t.send_log), 0.0)
        self.pinning.target(self.target)  # the callee farm exists now
        await asyncio.sleep(self.warmup)
        self._rss0 = rss_bytes(self.target.pid)
        win = Window(self.target.pid).start()
        set0 = self._cpu_set()
        await asyncio.sleep(baseline_seconds)
        win.stop()
        busy = self._busy_since(set0)
        self._base_cpu_per_s = win.cpu / win.seconds if win.seconds else 0.0
        self.baseline = {
            "cpu_pct": round(win.cpu_pct, 2),
            "cpu_pct_children": round(100.0 * win.children_cpu / win.seconds, 2),
            "window_s": round(win.seconds, 2),
            "rss_mb": round(self._rss0 / 2**20, 1),
            "steal_pct": round(win.steal_pct, 1),
            "machine_busy_pct": round(win.machine_busy_pct, 1),
            "server_cpus_busy_pct": busy[0],
        }
        return self.baseline

    def _cpu_set(self) -> tuple[int, int, int] | None:
        return cpu_set_times(self.pinning.server) if self.pinning.server else None

    def _busy_since(self, t0: tuple[int, int, int] | None) -> tuple[float | None, float | None]:
        """(busy %, softirq %) of the server's CPUs since ``t0`` (None: not pinned)."""
        t1 = self._cpu_set()
        if t0 is None or t1 is None or t1[2] <= t0[2]:
            return None, None
        # its processes, the kernel's loopback delivery (softirq) and anything else that
        # ran there; 100 = every CPU of the set busy
        dt = t1[2] - t0[2]
        return round(100.0 * (t1[0] - t0[0]) / dt, 1), round(100.0 * (t1[1] - t0[1]) / dt, 1)

    async def step(self, viewers: int) -> dict[str, Any]:
        """Viewers up to ``viewers`` (those that fail count as failed), settle, measure."""
        t = self.target
        more = viewers - len(self.farm.viewers) - len(self.farm.failed)
        if more > 0:
            await self.farm.add_many(more, lambda: t.add_viewer(self.farm))
        self.pinning.target(t)  # a worker restarted meanwhile is pinned too
        await asyncio.sleep(self.warmup)
        self.farm.reset()
        if self.feeder is not None:
            self.feeder.late_max = 0.0  # per window
        farm_proc = getattr(t, "farm", None)
        callee0 = cpu_seconds(farm_proc.pid) if farm_proc is not None else 0.0
        win = Window(t.pid).start()
        set0 = self._cpu_set()
        own0 = time.process_time()  # this process alone: the viewer farm (+ Janus's feed)
        await asyncio.sleep(self.window)
        own = time.process_time() - own0
        win.stop()
        busy, soft = self._busy_since(set0)
        callee = cpu_seconds(farm_proc.pid) - callee0 if farm_proc is not None else 0.0
        rep = self.farm.report()
        rss = rss_bytes(t.pid)
        secs = win.seconds or 1.0
        fwd = rep["packets"]
        out: dict[str, Any] = {
            "viewers": rep["viewers"],
            "failed": rep["failed"],
            "loss_pct": round(rep["loss_pct"], 4),
            "cpu_pct": round(win.cpu_pct, 1),
            "cpu_pct_children": round(100.0 * win.children_cpu / secs, 1),
            "forwarded_pps": round(fwd / secs),
            "rss_mb": round(rss / 2**20, 1),
            "rss_per_viewer_kb": round((rss - self._rss0) / 1024 / max(rep["viewers"], 1), 1),
            "viewer_farm_cpu_pct": round(100.0 * own / secs, 1),
            "callee_farm_cpu_pct": round(100.0 * callee / secs, 1) if farm_proc else None,
            "steal_pct": round(win.steal_pct, 1),
            "machine_busy_pct": round(win.machine_busy_pct, 1),
            "srtp_profiles": rep.get("srtp_profiles", {}),
            "server_cpus_busy_pct": busy,
            "server_cpus_softirq_pct": soft,
            "window_s": round(secs, 2),
        }
        if fwd:
            per = (win.cpu - self._base_cpu_per_s * secs) / fwd
            out["cpu_us_per_packet"] = round(per * 1e6, 2)
            out["cpu_us_per_packet_total"] = round(win.cpu / fwd * 1e6, 2)
        for k in (
            "latency_samples",
            "latency_p50_ms",
            "latency_p99_ms",
            "video_latency_p50_ms",
            "video_latency_p99_ms",
            "verified",
            "verify_failed",
            "first_failure",
        ):
            if k in rep:
                out[k] = rep[k]
        if self.feeder is not None and self.feeder.dests:  # this process feeds (Janus)
            out["feeder_late_max_ms"] = round(self.feeder.late_max * 1000, 1)
        return out

    async def close(self) -> None:
        await self.farm.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sock is not None:
            self._sock.close()


def over(point: dict[str, Any], budget: float) -> str:
    """Why a step is past the limit ("" when within): failure, loss, CPU over budget."""
    if point["failed"]:
        return "a viewer failed"
    if point["loss_pct"] > MAX_LOSS_PCT:
        return f"loss {point['loss_pct']} % > {MAX_LOSS_PCT} %"
    if point["cpu_pct"] > budget:
        return f"CPU {point['cpu_pct']} % > {budget:g} %"
    return ""


def farm_bound(point: dict[str, Any]) -> str:
    """Why the viewer farm, not the server, may limit the next step ("" when it does not)."""
    farm = point.get("viewer_farm_cpu_pct") or 0.0
    if farm > FARM_MAX_PCT:
        return f"viewer farm at {farm} % of a core (the figure is a lower bound)"
    return ""
