"""CPU per forwarded packet, this checkout against another, alternating in one run.

    python3 -m bench.forward_cost --base-root DIR [--viewers 100] [--seconds 10] [--runs 3]

Figure (2) of :mod:`bench.run` (:func:`bench.viewers_run.measure`: the looped trace from the
callee farm, N light WHEP viewers, server CPU over the window minus the feed's alone,
divided by the packets the viewers got) for two servers: this checkout's and ``DIR``'s
(e.g. ``git archive BASE | tar -x -C DIR``), one after the other ``--runs`` times, so both
see the same machine load. Prints the runs and the median per server as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from pathlib import Path
from typing import Any

from bench import wcs_proc
from bench.run import viewers_step
from bench.targets import WcsTarget


async def run(base_root: Path, viewers: int, seconds: float, runs: int) -> dict[str, Any]:
    roots = {"this checkout": wcs_proc.ROOT, f"base {base_root}": base_root}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in roots}
    for _ in range(runs):
        for name, root in roots.items():
            wcs_proc.ROOT = root
            r = await viewers_step(lambda: WcsTarget(max_viewers_per_ip=viewers), viewers, seconds)
            results[name].append(r)
    out: dict[str, Any] = {"viewers": viewers, "seconds": seconds, "servers": {}}
    for name, rs in results.items():
        per = [r["cpu_us_per_packet"] for r in rs if r.get("cpu_us_per_packet")]
        out["servers"][name] = {
            "cpu_us_per_packet_median": statistics.median(per) if per else None,
            "cpu_us_per_packet_runs": per,
            "loss_pct": [r["loss_pct"] for r in rs],
            "viewers": [r["viewers"] for r in rs],
            "machine_busy_pct": [r["machine_busy_pct"] for r in rs],
            "steal_pct": [r["steal_pct"] for r in rs],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base-root", required=True, help="the other checkout's root")
    ap.add_argument("--viewers", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    result = asyncio.run(run(Path(args.base_root).resolve(), args.viewers, args.seconds, args.runs))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
