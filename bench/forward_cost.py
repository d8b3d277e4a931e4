"""CPU per forwarded packet, this checkout against another, alternating in one run.

    python3 -m bench.forward_cost --base-root DIR [--viewers 100] [--seconds 10] [--runs 3]
        [--trace hd] [--pyspy DIR]

Figure (2) of :mod:`bench.run` (:func:`bench.viewers_run.measure`: the looped trace from the
callee farm, N light WHEP viewers, server CPU over the window minus the feed's alone,
divided by the packets the viewers got) for two servers: this checkout's and ``DIR``'s
(e.g. ``git archive BASE | tar -x -C DIR``), one after the other ``--runs`` times, so both
see the same machine load. Prints the runs and the median per server as JSON; with
``--pyspy DIR`` also each server's profile (py-spy, first run) before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from pathlib import Path
from typing import Any

from bench import wcs_proc
from bench.pyspy_summary import table
from bench.run import viewers_step
from bench.targets import WcsTarget


async def run(
    base_root: Path,
    viewers: int,
    seconds: float,
    runs: int,
    trace: str = "recorded",
    pyspy: Path | None = None,
) -> dict[str, Any]:
    roots = {"this checkout": wcs_proc.ROOT, f"base {base_root}": base_root}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in roots}
    profiles: dict[str, str] = {}
    for i in range(runs):
        # Alternate which goes first: a drift in the machine's load then hurts both.
        order = list(roots.items()) if i % 2 == 0 else list(roots.items())[::-1]
        for k, (name, root) in enumerate(order):
            wcs_proc.ROOT = root
            spy = str(pyspy / f"server{k}.spy") if pyspy is not None and i == 0 else None
            r = await viewers_step(
                lambda: WcsTarget(trace=trace, max_viewers_per_ip=viewers), viewers, seconds, spy
            )
            results[name].append(r)
            if spy is not None and Path(spy).exists():
                profiles[name] = table(spy, top=15)
    out: dict[str, Any] = {"viewers": viewers, "seconds": seconds, "trace": trace, "servers": {}}
    for name, rs in results.items():
        per = [r["cpu_us_per_packet"] for r in rs if r.get("cpu_us_per_packet")]
        out["servers"][name] = {
            "cpu_us_per_packet_median": statistics.median(per) if per else None,
            "cpu_us_per_packet_runs": per,
            "loss_pct": [r["loss_pct"] for r in rs],
            "viewers": [r["viewers"] for r in rs],
            "machine_busy_pct": [r["machine_busy_pct"] for r in rs],
            "steal_pct": [r["steal_pct"] for r in rs],
            "srtp_profiles": rs[0].get("srtp_profiles") if rs else None,
        }
    if profiles:
        out["profiles"] = profiles
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base-root", required=True, help="the other checkout's root")
    ap.add_argument("--viewers", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--trace", default="recorded", help="recorded (~100 packets/s) or hd")
    ap.add_argument("--pyspy", default="", help="a directory: profile each server's first run")
    args = ap.parse_args()
    pyspy = Path(args.pyspy) if args.pyspy else None
    if pyspy is not None:
        pyspy.mkdir(parents=True, exist_ok=True)
    base = Path(args.base_root).resolve()
    result = asyncio.run(run(base, args.viewers, args.seconds, args.runs, args.trace, pyspy))
    profiles = result.pop("profiles", {})
    print(json.dumps(result, indent=2))
    for name, text in profiles.items():
        print(f"\n### Profile: {name}\n\n{text}")


if __name__ == "__main__":
    main()
