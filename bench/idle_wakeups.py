"""Wake-ups of an idle server: a paused stream (its callee sends nothing) and N viewers.

    python3 -m bench.idle_wakeups [--viewers 200] [--seconds 20] [--workers 0]
                                  [--keepalive S] [--wcs-root DIR]

The server runs as a child process (:mod:`bench.wcs_proc`). A silent callee in this process
(:class:`wcs.demo.DemoCallee`, ``send_media=False``: it answers and never sends RTP)
publishes the stream; N light viewers (:mod:`bench.viewer_farm`) play it over WHEP. Over a
window with no viewers and then one with the viewers connected, the server's wake-ups are
counted from /proc: voluntary context switches (the thread blocked in epoll and was woken)
and schedstat timeslices (times it got a CPU), summed over every thread of the server and
of its media workers.

The viewers' consent checks (one STUN request per viewer every ``KEEPALIVE_INTERVAL`` s) are
input the server must answer, so they set a floor: it is printed next to the figures.
``--wcs-root`` runs another checkout's server (e.g. a baseline worktree) with this harness.

History (2026-12-03, 2 shared cores, 200 viewers, 20 s; wake-ups/s of the server, the paused
call alone, then with the viewers; "keepalive" is the viewers' consent check period):

    keepalive 2 s:  baseline-11 51 -> 257    one Pump per core 52 -> 156
    keepalive 10 s: baseline-11 52 -> 142    one Pump per core 53 -> 112
    after the fan-out split: 51.6 -> 124.0 (119.0-127.3), of which aioice's consent task ~27

Issue 11, shared timer grids (``python3 -m bench.idle_wakeups`` against ``--wcs-root`` of the
base commit accce07, interleaved runs, median and range; details in bench/RESULTS.md).
Since the per-address viewer limit (100 by default) the harness lifts
``max_viewers_per_ip`` so that all 200 viewers connect.

    keepalive 2 s   accce07 51.8 -> 136.6 (130.5-140.2)   now 51.0 -> 96.1 (93.1-99.4)
    keepalive 20 s  accce07 52.5 -> 110.0 (108.8-111.2)   now 51.6 -> 61.5 (60.5-62.5)  (2 runs)

What wakes the server now: the paused call's 20 ms audio slot (~50/s: silence goes to the
SIP peer, wire behaviour; all calls' slots now share one grid, so N calls should cost the
same ~50/s: shown by a unit test, not measured here, the harness has one call), the
viewers' own consent checks (input: 100/s at keepalive 2 s give ~45 wake-ups, 10/s give ~10),
and one tick a second of the 1 s grid on which every viewer's consent check, consent and
liveness expiry and sender report sits (aioice's per-connection consent task is replaced by
our checks on that grid).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import lightrtc, wcs_proc
from bench.procstat import cpu_seconds
from bench.targets import place_call
from bench.viewer_farm import Farm
from tests.peers.procs import child_pids
from wcs.demo import DemoCallee

CALL_ID = "idle1"


@dataclass
class Sample:
    """Counters of every thread of the server and of its children, at one instant."""

    at: float
    voluntary: int  # voluntary context switches: blocked, then woken
    involuntary: int
    timeslices: int  # schedstat: times a thread was given a CPU
    loop_voluntary: int  # the main thread alone (the event loop)
    cpu: float

    @classmethod
    def take(cls, pid: int) -> Sample:
        vol = invol = slices = loop_vol = 0
        cpu = 0.0
        for p in [pid, *child_pids(pid)]:
            try:
                cpu += cpu_seconds(p)
                tids = os.listdir(f"/proc/{p}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    status = Path(f"/proc/{p}/task/{tid}/status").read_text()
                    sched = Path(f"/proc/{p}/task/{tid}/schedstat").read_text().split()
                except OSError:  # the thread ended meanwhile
                    continue
                v = _field(status, "voluntary_ctxt_switches")
                vol += v
                invol += _field(status, "nonvoluntary_ctxt_switches")
                slices += int(sched[2])
                if p == pid and tid == str(pid):
                    loop_vol = v
        return cls(time.monotonic(), vol, invol, slices, loop_vol, cpu)


def _field(status: str, name: str) -> int:
    for line in status.splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def rates(a: Sample, b: Sample) -> dict[str, float]:
    dt = b.at - a.at
    return {
        "seconds": round(dt, 2),
        "wakeups_per_s": round((b.voluntary - a.voluntary) / dt, 1),
        "loop_thread_wakeups_per_s": round((b.loop_voluntary - a.loop_voluntary) / dt, 1),
        "timeslices_per_s": round((b.timeslices - a.timeslices) / dt, 1),
        "involuntary_per_s": round((b.involuntary - a.involuntary) / dt, 1),
        "cpu_pct": round(100.0 * (b.cpu - a.cpu) / dt, 2),
    }


async def window(pid: int, seconds: float) -> dict[str, float]:
    a = Sample.take(pid)
    await asyncio.sleep(seconds)
    return rates(a, Sample.take(pid))


async def run(
    viewers: int, seconds: float, workers: int, label: str, patches: tuple[str, ...] = ()
) -> dict[str, Any]:
    rundir = Path(tempfile.mkdtemp(prefix="wcs-bench-idle-"))
    # All the viewers come from one loopback address: lift the per-address limit (100).
    settings: dict[str, Any] = {"max_viewers_per_ip": viewers}
    if workers:
        settings["webrtc_workers"] = workers
    server = wcs_proc.WcsServer(rundir / "wcs.log", patches=patches, **settings)
    callee = DemoCallee(user=CALL_ID, ring_delay=0.0, send_media=False)
    farm = Farm()
    out: dict[str, Any] = {
        "target": label,
        "viewers_asked": viewers,
        "workers": workers,
        "patches": list(patches),
    }
    try:
        await callee.start()
        stream = await place_call(server, callee.port, CALL_ID)
        await asyncio.sleep(2.0)  # let the call settle (ACK, first timers)
        out["no_viewers"] = await window(server.pid, min(seconds, 10.0))
        url = f"{server.base}/whep/{stream}"
        await farm.add_many(viewers, lambda: farm.add_whep(url))
        await asyncio.sleep(3.0)  # connected viewers' first timers and passive switch
        out["with_viewers"] = await window(server.pid, seconds)
        rep = farm.report()
        out["viewers_connected"] = rep["viewers"]
        out["viewers_failed"] = rep["failed"]
        out["packets_to_viewers"] = rep["packets"]  # the stream is paused: expect 0
        out["consent_checks_per_s"] = round(rep["viewers"] / lightrtc.KEEPALIVE_INTERVAL, 1)
        base = out["no_viewers"]["wakeups_per_s"]
        added = out["with_viewers"]["wakeups_per_s"] - base
        out["wakeups_per_s_per_viewer"] = round(added / max(rep["viewers"], 1), 3)
    finally:
        await farm.close()
        await callee.close()
        server.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--viewers", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=0, help="media worker processes (0: none)")
    ap.add_argument(
        "--keepalive",
        type=float,
        default=lightrtc.KEEPALIVE_INTERVAL,
        help="seconds between a viewer's consent checks (below the server's 30 s timeout)",
    )
    ap.add_argument("--wcs-root", help="run the server of this checkout (default: this one)")
    ap.add_argument("--label", default="", help="name of the target in the output")
    ap.add_argument("--patches", default="", help="bench.fastpath patches, e.g. no_aioice_consent")
    args = ap.parse_args()
    lightrtc.KEEPALIVE_INTERVAL = args.keepalive  # read by every viewer's check loop
    label = args.label or "wcs server"
    if args.wcs_root:
        wcs_proc.ROOT = Path(args.wcs_root).resolve()
        label = args.label or f"wcs server at {wcs_proc.ROOT}"
    patches = tuple(p for p in args.patches.split(",") if p)
    result = asyncio.run(run(args.viewers, args.seconds, args.workers, label, patches))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
