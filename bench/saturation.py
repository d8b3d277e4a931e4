"""Issue 17's viewer figures, measured: saturation runs at a real 1.5 Mbit/s stream, wcs vs
Janus per N with the same stream, SRTP suite and viewer client, idle cost, memory per viewer.

The stream is ``bench.hd_trace`` (H.264 constrained baseline at 1.5 Mbit/s, ~174 packets/s,
+ PCMU 50 packets/s), the same bytes for wcs (an A+V call from the callee farm) and Janus
(its streaming mountpoint, fed from this process). Viewers: ``bench.lightrtc`` (real ICE,
DTLS, SRTP; no decoding), each offering only the SRTP suite of ``--srtp``.

* ``viewers`` (a, d): for each ``webrtc_workers`` setting, viewers are added in steps until
  the server's CPU (process + media workers) passes the budget (one core), loss passes
  0.1 % or a viewer fails; the figure is the largest step within all three (and, when the
  step after it was over the CPU budget, N interpolated at exactly the budget), memory per
  viewer at that step. The viewer farm is one process: a step where it passes 90 % of a
  core ends the run too, and the figure is then marked as a lower bound. Repeated, the
  settings' order alternating; median and range.
* ``compare`` (b, c): wcs (each ``--compare-workers`` setting) and Janus at N = 10, 20, 40,
  80: CPU per forwarded packet (the stream-only baseline subtracted), the wcs/Janus ratio
  per N, p50/p99 send → arrival latency; the baseline window itself is the idle cost of a
  live stream without viewers. Repeated, the targets' order alternating.

By default the server under test (every thread, media workers too) runs on CPU 0 and the
farms (this process: viewers and Janus's feed; the callee farm) on the other CPUs.

    python3 -m bench.saturation                       # full run: ~45 min on 2 cores
    python3 -m bench.saturation --quick               # ~4 min: tiny N, 1 repeat
    python3 -m bench.saturation --parts compare       # only (b) and (c)
    python3 -m bench.saturation --from-json raw.json  # only rewrite bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.hd_trace import describe, load_hd_trace
from bench.ladder import Ladder, Pinning, farm_bound, loopback_rps, over
from bench.saturation_report import markdown, write_results
from bench.targets import JanusTarget, Target, WcsTarget
from bench.trace_feed import Trace
from bench.viewer_farm import Farm
from wcs.webrtc.dtls import SRTP_PROFILES

HERE = Path(__file__).resolve().parent


def log(msg: str) -> None:
    print(f"[saturation {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wcs_target(workers: int, viewers: int) -> WcsTarget:
    return WcsTarget(
        trace="hd",
        media_ports=viewers + 300,
        webrtc_workers=workers,
        max_viewers_per_ip=viewers + 100,  # every farm viewer comes from 127.0.0.1
        rest_rate_limit=0,  # the WHEP POSTs of a step come in a burst
        event_loop="auto",  # the server's default: uvloop when installed (make bench does)
    )


def new_farm(args: argparse.Namespace, target: Target) -> Farm:
    profiles = SRTP_PROFILES if args.srtp == "any" else (args.srtp,)
    return Farm(srtp_profiles=profiles, correlator=target.send_log)


def saturation_figure(points: list[dict[str, Any]], budget: float) -> dict[str, Any]:
    """The largest step within budget, loss and failures; N at the budget when bracketed."""
    ok: list[dict[str, Any]] = []
    for p in points:
        if over(p, budget):
            break
        ok.append(p)
    bad = points[len(ok)] if len(ok) < len(points) else None
    best = ok[-1] if ok else None
    why = [over(bad, budget) if bad else "", farm_bound(points[-1]) if points else ""]
    out: dict[str, Any] = {
        "viewers": best["viewers"] if best else 0,
        "stopped_by": "; ".join(w for w in why if w) or "step limit",
        "at": best,
        "viewers_interpolated_at_budget": None,
    }
    if best and bad and best["cpu_pct"] <= budget < bad["cpu_pct"]:
        frac = (budget - best["cpu_pct"]) / (bad["cpu_pct"] - best["cpu_pct"])
        n = best["viewers"] + frac * (bad["viewers"] - best["viewers"])
        out["viewers_interpolated_at_budget"] = round(n)
    return out


async def ladder_run(
    target: Target,
    args: argparse.Namespace,
    trace: Trace,
    pinning: Pinning,
    counts: list[int],
    stop: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    """``counts`` in order, until a step where ``stop`` says so."""
    lad = Ladder(target, trace, new_farm(args, target), pinning, args.warmup, args.window)
    points: list[dict[str, Any]] = []
    base: dict[str, Any] = {}
    try:
        base = await lad.start(args.baseline)
        log(f"  stream only: {json.dumps(base)}")
        for n in counts:
            p = await lad.step(n)
            points.append(p)
            log(f"  {json.dumps(p)}")
            if stop(p):
                break
    finally:
        await lad.close()
        target.stop()
    out = {"baseline": base, "points": points, **target.describe()}
    if isinstance(target, WcsTarget):  # its sent/late figures, for the record
        out["callee_farm"] = target.farm_report
    return out


async def run_viewers(args: argparse.Namespace, trace: Trace, pinning: Pinning) -> list[Any]:
    runs: list[dict[str, Any]] = []
    counts = list(range(args.start, args.limit + 1, args.step))
    for r in range(args.repeats):
        for w in args.workers if r % 2 == 0 else args.workers[::-1]:
            log(f"(a) saturation, webrtc_workers={w}, repeat {r + 1}/{args.repeats}")
            target = wcs_target(w, args.limit)
            res = await ladder_run(
                target,
                args,
                trace,
                pinning,
                counts,
                lambda p: bool(over(p, args.budget) or farm_bound(p)),
            )
            res.update(workers=w, repeat=r, **saturation_figure(res["points"], args.budget))
            log(f"  → {res['viewers']} viewers ({res['stopped_by']})")
            runs.append(res)
    return runs


async def run_compare(args: argparse.Namespace, trace: Trace, pinning: Pinning) -> list[Any]:
    kinds: list[tuple[str, int]] = [("wcs", w) for w in args.compare_workers]
    if not args.no_janus:
        kinds.append(("janus", 0))
    runs: list[dict[str, Any]] = []
    top = max(args.compare_n)
    for r in range(args.repeats):
        for kind, w in kinds if r % 2 == 0 else kinds[::-1]:
            label = "Janus" if kind == "janus" else f"wcs, webrtc_workers={w}"
            log(f"(b) {label}, N = {args.compare_n}, repeat {r + 1}/{args.repeats}")
            target: Target = JanusTarget() if kind == "janus" else wcs_target(w, top)
            # no budget here: every N is measured (a failed viewer still stops the run)
            res = await ladder_run(
                target, args, trace, pinning, args.compare_n, lambda p: bool(p["failed"])
            )
            res.update(kind=kind, workers=w, label=label, repeat=r)
            runs.append(res)
    return runs


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.run import machine

    trace = load_hd_trace()
    pinning = Pinning() if args.no_pin else Pinning.split(args.server_cpus)
    res: dict[str, Any] = {
        "machine": machine(),
        "stream": describe(trace),
        "pinning": pinning.describe(),
        "srtp_offered": list(SRTP_PROFILES) if args.srtp == "any" else [args.srtp],
        "budget_pct": args.budget,
        "quick": args.quick,
        "options": {k: v for k, v in vars(args).items() if k not in ("out", "json")},
    }
    log(f"stream: {json.dumps(res['stream'])}; pinning: {res['pinning']}")
    with contextlib.ExitStack() as stack:
        if args.rps:
            res["loopback_rps"] = stack.enter_context(loopback_rps(pinning.farm))
            log(f"loopback receive work on CPU {sorted(pinning.farm)} (RPS {res['loopback_rps']})")
        if "viewers" in args.parts:
            res["viewers"] = await run_viewers(args, trace, pinning)
        if "compare" in args.parts:
            res["compare"] = await run_compare(args, trace, pinning)
    return res


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="viewers,compare", help="viewers (a, d), compare (b, c)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--budget", type=float, default=100.0, help="%% of one core (server tree)")
    ap.add_argument("--start", type=int, default=100, help="(a) viewers at the first step")
    ap.add_argument("--step", type=int, default=50, help="(a) viewers added per step")
    ap.add_argument("--limit", type=int, default=1500, help="(a) never more viewers than this")
    ap.add_argument("--workers", default="0,1,2", help="(a) webrtc_workers settings")
    ap.add_argument("--compare-n", default="10,20,40,80", help="(b) viewer counts")
    ap.add_argument("--compare-workers", default="0,1,2", help="(b) wcs webrtc_workers settings")
    ap.add_argument("--no-janus", action="store_true")
    ap.add_argument(
        "--srtp",
        default="SRTP_AEAD_AES_128_GCM",
        choices=[*SRTP_PROFILES, "any"],
        help="the one DTLS-SRTP profile every viewer offers (any: both, GCM preferred)",
    )
    ap.add_argument("--window", type=float, default=10.0, help="measured seconds per step")
    ap.add_argument("--warmup", type=float, default=3.0, help="settling seconds before each")
    ap.add_argument("--baseline", type=float, default=10.0, help="stream-only window (idle)")
    ap.add_argument("--server-cpus", default="0", help="CPUs of the server under test")
    ap.add_argument("--no-pin", action="store_true", help="no CPU pinning at all")
    ap.add_argument(
        "--rps",
        action="store_true",
        help="loopback receive work on the farm CPUs (RPS on lo, root, restored after)",
    )
    ap.add_argument("--quick", action="store_true", help="tiny N, 1 repeat, short windows")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    ap.add_argument("--json", default="", help="also write the raw results here")
    ap.add_argument("--from-json", default="", help="only rewrite RESULTS.md from raw results")
    args = ap.parse_args(argv)
    if args.rps and args.no_pin:
        ap.error("--rps needs the pinning (the farm CPUs take the receive work)")
    if args.quick:
        args.repeats, args.start, args.step, args.limit = 1, 10, 10, 30
        args.compare_n, args.window, args.warmup, args.baseline = "5,10", 4.0, 2.0, 4.0
    args.parts = [p.strip() for p in args.parts.split(",")]
    args.workers = _ints(args.workers)
    args.compare_workers = _ints(args.compare_workers)
    args.compare_n = _ints(args.compare_n)
    if not args.no_janus and shutil.which("janus") is None:
        print("saturation: janus not installed (tests/peers/janus-install.sh)", file=sys.stderr)
        args.no_janus = True
    return args


def measure(args: argparse.Namespace, cmd: list[str]) -> dict[str, Any]:
    """Run, and keep the raw results (``--from-json`` rewrites the section from them)."""
    res = asyncio.run(run(args))
    res["command"] = cmd
    raw = Path(args.json or Path(tempfile.mkdtemp(prefix="wcs-sat-")) / "raw.json")
    raw.write_text(json.dumps(res, indent=1))
    print(f"saturation: raw results in {raw} (--from-json {raw} rewrites RESULTS.md)")
    return res


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    cmd = ["python3", "-m", "bench.saturation", *(sys.argv[1:] if argv is None else argv)]
    res = json.loads(Path(args.from_json).read_text()) if args.from_json else measure(args, cmd)
    text = markdown(res, res.get("command", cmd))
    print(text)
    if not args.no_write:
        write_results(text, Path(args.out))
        print(f"saturation: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
