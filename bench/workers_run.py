"""Viewers and latency with media worker processes (setting ``webrtc_workers``).

``python3 -m bench.workers_run --viewers 356 --workers 0,2 --repeat 3``: the viewers part
of bench.run (one looped-trace call, N light WHEP viewers, CPU per forwarded packet, latency,
loss) for each worker count, the counts interleaved in each repetition so that whatever else
the shared machine runs hits them alike. CPU is the server's process tree: the main process
plus its media workers (``cpu_pct_children`` is the workers' part).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench.run import machine
from bench.targets import WcsTarget
from bench.viewers_run import measure

COLUMNS = (
    "target",
    "viewers",
    "viewers_failed",
    "forwarded_packets",
    "loss_pct",
    "cpu_pct",
    "cpu_pct_children",
    "cpu_pct_feed_only",
    "cpu_us_per_packet",
    "cpu_us_per_packet_total",
    "latency_p50_ms",
    "latency_p99_ms",
    "video_latency_p99_ms",
    "machine_busy_pct",
    "steal_pct",
    "rss_per_viewer_kb",
)


async def one(workers: int, viewers: int, seconds: float) -> dict[str, Any]:
    settings: dict[str, Any] = {"webrtc_workers": workers} if workers else {}
    target = WcsTarget(**settings)
    try:
        r = await measure(target, viewers, seconds=seconds)
    finally:
        target.stop()
    r["webrtc_workers"] = workers
    return r


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in COLUMNS) + " |")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    counts = [int(x) for x in args.workers.split(",")]
    out: dict[str, Any] = {"machine": machine(), "viewers": args.viewers, "runs": []}
    for i in range(args.repeat):
        for w in counts:
            print(
                f"[workers {time.strftime('%H:%M:%S')}] {args.viewers} viewers, "
                f"webrtc_workers={w}, run {i + 1}/{args.repeat}",
                flush=True,
            )
            r = await one(w, args.viewers, args.seconds)
            out["runs"].append(r)
            print(json.dumps(r), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--viewers", type=int, default=356, help="the half-load N of bench.run")
    ap.add_argument("--workers", default="0,2", help="worker counts to compare")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--json", default="", help="write the raw results here")
    args = ap.parse_args(argv)
    res = asyncio.run(run(args))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    print(table(res["runs"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
