"""The callee farm as a process the calls saturation run can ask how it is doing.

``bench.callee_farm`` answers INVITEs and sends the trace's H.264 + PCMU; this runs one of
it and answers a line on stdin with a JSON line on stdout:

- ``stats``: counts so far (INVITEs, established, ended, packets sent) and, since the
  previous ``stats``, the Feeder's worst send lateness and the farm's event-loop lag
  (p50/p99/max of a 10 ms timer): if these grow, the farm, not the server, is the limit.
- ``register {"host", "port", "user", "password", "realm"}``: REGISTER (digest auth) at
  Kamailio; answers ``{"register": status}``.
- ``quit``: hang up nothing, close the sockets, print the final counts (with where the
  INVITEs came from: Kamailio or the server), exit.

The first stdout line is ``{"sip_port": N, "trace_pps": r}``.

    python -m bench.calls_farm [recorded | hd | trace.pcap]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.callee_farm import CalleeFarm
from bench.trace_feed import TRACE, Feeder, Trace, load_trace

LAG_TICK = 0.01  # s between the lag probe's wake-ups


class LagProbe:
    """How late a 10 ms timer fires: the farm's event loop is this far behind."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    async def run(self) -> None:
        while True:  # time.monotonic: uvloop's loop.time() counts whole milliseconds
            due = time.monotonic() + LAG_TICK
            await asyncio.sleep(LAG_TICK)
            self.samples.append(max(0.0, time.monotonic() - due))

    def take(self) -> dict[str, float | None]:
        s = sorted(self.samples)
        self.samples = []
        if not s:
            return {"lag_p50_ms": None, "lag_p99_ms": None, "lag_max_ms": None}
        return {
            "lag_p50_ms": round(s[len(s) // 2] * 1000, 2),
            "lag_p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))] * 1000, 2),
            "lag_max_ms": round(s[-1] * 1000, 2),
        }


def counts(farm: CalleeFarm) -> dict[str, Any]:
    """FarmStats' counters (INVITEs, established, ended, ...) and the packets sent."""
    out: dict[str, Any] = {k: v for k, v in vars(farm.stats).items() if isinstance(v, int)}
    dests = [c.dest for c in farm.calls.values()]
    out["sent"] = sum(d.sent for d in dests)
    out["send_errors"] = sum(d.errors for d in dests)
    return out


def trace_named(name: str) -> Trace:
    """``recorded`` (the pcap, ~100 packets/s per call), ``hd`` (``bench.hd_trace``, from
    another issue-17 branch: 1.5 Mbit/s, ~224 packets/s) or a pcap's path."""
    if name == "hd":
        from bench.hd_trace import load_hd_trace

        hd: Trace = load_hd_trace()
        return hd
    return load_trace(TRACE if name == "recorded" else Path(name))


async def _main(trace: Trace) -> None:
    feeder = Feeder(trace)
    farm = CalleeFarm(feeder)
    info: dict[str, Any] = {"sip_port": await farm.start()}
    info["trace_pps"] = round(feeder.trace.rate()[0], 2)
    print(json.dumps(info), flush=True)
    probe = LagProbe()
    tasks = [asyncio.create_task(feeder.run()), asyncio.create_task(probe.run())]
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    last = time.monotonic()
    while line := (await reader.readline()).decode().strip():
        word, _, rest = line.partition(" ")
        if word == "quit":
            break
        if word == "register":  # the password comes this way, never on a command line
            r = json.loads(rest)
            status = await farm.register(
                (r["host"], int(r["port"])), r["user"], r["password"], r["realm"], 3600
            )
            print(json.dumps({"register": status}), flush=True)
            continue
        now = time.monotonic()
        out = counts(farm) | probe.take()
        out["late_max_ms"] = round(feeder.late_max * 1000, 1)  # since the previous stats
        out["seconds"] = round(now - last, 3)
        feeder.late_max, last = 0.0, now
        print(json.dumps(out), flush=True)
    for t in tasks:
        t.cancel()
    final = counts(farm)
    final["invites_from"] = dict(Counter(f"{c.addr[0]}:{c.addr[1]}" for c in farm.calls.values()))
    farm.close()
    with contextlib.suppress(BrokenPipeError):  # the driver may be gone
        print(json.dumps(final), flush=True)


if __name__ == "__main__":
    # asyncio, not uvloop: uvloop's timers count whole milliseconds, so the Feeder's
    # sub-millisecond sleeps return at once and it spins between packets
    asyncio.run(_main(trace_named(sys.argv[1] if len(sys.argv) > 1 else "recorded")))
