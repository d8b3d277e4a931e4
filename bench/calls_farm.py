"""The callee farm as a process the calls saturation run can ask how it is doing.

``bench.callee_farm`` answers INVITEs and sends the trace's H.264 + PCMU; this runs one of
it and answers a line on stdin with a JSON line on stdout:

- ``stats``: counts so far (INVITEs, established, ended, packets sent) and, since the
  previous ``stats``, the Feeder's worst send lateness and the farm's event-loop lag
  (p50/p99/max of a 10 ms timer): if these grow, the farm, not the server, is the limit.
- ``quit``: hang up nothing, close the sockets, print the final counts (with where the
  INVITEs came from: Kamailio or the server), exit.

The first stdout line is ``{"sip_port": N, "register": status, "trace_pps": r}``.

    python -m bench.calls_farm [--register 1002 --password P --proxy 127.0.0.1:5060]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.callee_farm import CalleeFarm
from bench.trace_feed import TRACE, Feeder, load_trace

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
    s = farm.stats
    return {
        "invites": s.invites,
        "established": s.established,
        "ended": s.ended,
        "rejected": s.rejected,
        "rx_packets": s.rx_packets,
        "sent": sum(c.dest.sent for c in farm.calls.values()),
        "send_errors": sum(c.dest.errors for c in farm.calls.values()),
    }


async def _main(args: argparse.Namespace) -> None:
    feeder = Feeder(load_trace(Path(args.trace)))
    farm = CalleeFarm(feeder)
    info: dict[str, Any] = {"sip_port": await farm.start()}
    info["trace_pps"] = round(feeder.trace.rate()[0], 2)
    if args.register:
        host, _, port = args.proxy.partition(":")
        info["register"] = await farm.register(
            (host, int(port or 5060)), args.register, args.password, args.realm, args.expires
        )
    print(json.dumps(info), flush=True)
    probe = LagProbe()
    tasks = [asyncio.create_task(feeder.run()), asyncio.create_task(probe.run())]
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    last = time.monotonic()
    while line := (await reader.readline()).decode().strip():
        if line == "quit":
            break
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
    print(json.dumps(final), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--register", default="", help="REGISTER this user first (Kamailio)")
    ap.add_argument("--password", default="")
    ap.add_argument("--realm", default="sip.test")
    ap.add_argument("--proxy", default="127.0.0.1:5060", help="registrar host:port")
    ap.add_argument("--expires", type=int, default=3600)
    ap.add_argument("--trace", default=str(TRACE), help="pcap with H.264 PT 96 + PCMU PT 0")
    ap.add_argument("--uvloop", action="store_true", help="(its ms timers make the Feeder spin)")
    args = ap.parse_args(argv)
    if args.uvloop:
        import uvloop

        uvloop.run(_main(args))
    else:
        asyncio.run(_main(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
