"""Total viewers at a CPU budget: one node vs an origin + edge pair (issue 15). Not a test.

A saturation run, not an extrapolation: one A+V call from the callee farm (its own process)
publishes the looped trace stream on node A; light WebRTC viewers (``bench.lightrtc``: real
ICE, DTLS, SRTP, no decoding) are added over WHEP in steps. Each step is measured over a
window after a warm-up; the run stops at the first step where a node's CPU (its process
and its media workers, from /proc) goes over the budget, loss goes over 0.1 % or a viewer
fails to connect. The figure is the last step that met all three.

- ``1 node``: every viewer on A, A pinned to CPU 0.
- ``2 nodes``: viewers alternately on A and on edge B (which relays A's stream once over
  the cluster relay), A pinned to CPU 0, B to CPU 1, a private redis-server between them.

The budget is per node, the same in both layouts, and below one core because the viewer
farm and the callee farm share this 2-core machine with the nodes (see ``--budget``).

Run: PYTHONPATH=. python bench/cluster_capacity.py [--repeats 3] [--budget 45] [--step 40]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from bench.calls_run import FarmProcess
from bench.procstat import Window
from bench.targets import place_call
from bench.viewer_farm import Farm
from bench.wcs_proc import WcsServer
from tests.peers.redis import start_redis

MAX_LOSS_PCT = 0.1


def start_nodes(count: int, redis_url: str, rundir: Path, stack: ExitStack) -> list[WcsServer]:
    nodes = []
    for i in range(count):
        node = WcsServer(
            rundir / f"node{i}.log",
            media_ports=1600,
            cluster_redis_url=redis_url,
            node_id="AB"[i],
            cluster_relay_grace=5,
            max_viewers_per_ip=5000,  # every farm viewer comes from 127.0.0.1
        )
        stack.callback(node.stop)  # stopped even if a later one fails to start
        os.sched_setaffinity(node.pid, {i})  # one core per node
        nodes.append(node)
    return nodes


async def saturate(
    nodes: list[WcsServer],
    stream: str,
    budget: float,
    step: int,
    limit: int,
    window: float,
    callee_pid: int,
) -> dict[str, Any]:
    farm = Farm()
    urls = itertools.cycle([f"{n.base}/whep/{stream}" for n in nodes])
    points: list[dict[str, Any]] = []
    try:
        while len(farm.viewers) < limit:
            await farm.add_many(step, lambda: farm.add_whep(next(urls)))
            await asyncio.sleep(3.0)  # connected, passive viewers settled
            farm.reset()
            windows = [Window(n.pid).start() for n in nodes]
            callee = Window(callee_pid).start()
            own0 = time.process_time()  # this process alone (a Window adds its children)
            await asyncio.sleep(window)
            own = time.process_time() - own0
            for w in [*windows, callee]:
                w.stop()
            rep = farm.report()
            point = {
                "viewers": rep["viewers"],
                "failed": rep["failed"],
                "loss_pct": round(rep["loss_pct"], 3),
                "cpu_pct": [round(w.cpu_pct, 1) for w in windows],
                "viewer_farm_cpu_pct": round(100.0 * own / windows[0].seconds, 1),
                "callee_farm_cpu_pct": round(callee.cpu_pct, 1),
                "machine_busy_pct": round(windows[0].machine_busy_pct, 1),  # 100: both CPUs
                "steal_pct": round(windows[0].steal_pct, 1),
                "packets_per_s": round(rep["packets"] / windows[0].seconds),
            }
            points.append(point)
            print(json.dumps(point), flush=True)
            if rep["failed"] or rep["loss_pct"] > MAX_LOSS_PCT or max(point["cpu_pct"]) > budget:
                break
    finally:
        await farm.close()
    ok = [
        p
        for p in points
        if not p["failed"] and p["loss_pct"] <= MAX_LOSS_PCT and max(p["cpu_pct"]) <= budget
    ]
    best = ok[-1] if ok else None
    limited_by = "limit" if len(points) == len(ok) else _why(points[-1], budget)
    return {"viewers": best["viewers"] if best else 0, "at": best, "stopped_by": limited_by}


def _why(point: dict[str, Any], budget: float) -> str:
    if point["failed"]:
        return "viewer failed to connect"
    if point["loss_pct"] > MAX_LOSS_PCT:
        return f"loss {point['loss_pct']} %"
    return f"CPU {max(point['cpu_pct'])} % > {budget} %"


async def one_run(count: int, args: argparse.Namespace) -> dict[str, Any]:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        redis = stack.enter_context(start_redis(tmp / "redis"))
        nodes = start_nodes(count, redis.url, tmp, stack)
        callee = FarmProcess()
        stack.callback(callee.stop)
        stream = await place_call(nodes[0], callee.port, f"cap{count}")
        await asyncio.sleep(2.0)
        return await saturate(
            nodes, stream, args.budget, args.step, args.limit, args.window, callee.pid
        )


async def main(args: argparse.Namespace) -> None:
    results: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for r in range(args.repeats):
        for count in (1, 2) if r % 2 == 0 else (2, 1):  # alternate the order
            print(f"# repeat {r + 1}, {count} node(s)", flush=True)
            results[count].append(await one_run(count, args))
            print(json.dumps(results[count][-1]), flush=True)
    print(f"\n{started}, budget {args.budget} % of a core per node, step {args.step}")
    medians = {}
    for count, runs in results.items():
        totals = [r["viewers"] for r in runs]
        medians[count] = statistics.median(totals)
        print(
            f"{count} node(s): total viewers at the budget, median {medians[count]:g} "
            f"[{min(totals)}, {max(totals)}] over {len(totals)} runs; stopped by "
            + "; ".join(r["stopped_by"] for r in runs)
        )
    if medians[1]:
        print(f"ratio 2 nodes / 1 node: {medians[2] / medians[1]:.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--budget", type=float, default=45.0, help="% of a core, per node")
    ap.add_argument("--step", type=int, default=40, help="viewers added per step")
    ap.add_argument("--limit", type=int, default=1200, help="stop adding here")
    ap.add_argument("--window", type=float, default=8.0, help="measured seconds per step")
    asyncio.run(main(ap.parse_args()))
