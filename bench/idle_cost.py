"""Idle cost of one live stream without viewers (issue 17 (e)): wcs (a SIP call publishing
the stream) against Janus (a streaming mountpoint), the same 1.5 Mbit/s stream, and what the
call's outgoing silence costs wcs.

Every target gets ``bench.hd_trace`` (H.264 1.5 Mbit/s + PCMU, ~227 packets/s) and no
viewer; the figure is the server's CPU (process tree, /proc) over a window, in % of one core,
and its wake-ups per second (voluntary context switches of all its threads: each is one
sleep in epoll that a packet or a timer ended). wcs is run in three settings, so the share
of the silence it sends to the SIP peer (50 packets/s, which Janus does not send) shows:

* ``rtp_silence_early_ms = 10`` (the default): a silence slot leaves on a wake-up the
  callee's own packets caused, up to 10 ms early;
* ``rtp_silence_early_ms = 0``: every silence slot on its own 20 ms timer (before);
* ``rtp_send_silence = false``: no silence at all (the floor of the receive path).

Repeated with the targets' order alternating; medians and ranges. Pinning as
``bench.saturation``: the server on CPU 0, the farms on the others.

    python3 -m bench.idle_cost                 # 5 repeats x 4 targets x ~50 s: ~17 min
    python3 -m bench.idle_cost --quick         # 1 repeat, 5 s windows
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.hd_trace import describe, load_hd_trace
from bench.ladder import Ladder, Pinning, descendants
from bench.targets import JanusTarget, Target, WcsTarget
from bench.viewer_farm import Farm

HERE = Path(__file__).resolve().parent
BEGIN = "<!-- issue-17 idle cost: begin (written by python -m bench.idle_cost) -->"
END = "<!-- issue-17 idle cost: end -->"

SETTINGS: dict[str, dict[str, Any]] = {
    "wcs, rtp_silence_early_ms=10 (default)": {"rtp_silence_early_ms": 10},
    "wcs, rtp_silence_early_ms=0": {"rtp_silence_early_ms": 0},
    "wcs, rtp_send_silence=false": {"rtp_send_silence": False},
}
JANUS = "Janus 1.1 streaming"


def log(msg: str) -> None:
    print(f"[idle_cost {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wakeups(pid: int) -> int:
    """Voluntary context switches of every thread of ``pid`` and its children so far."""
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{p}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            total += int(line.split()[1])
            except OSError:
                continue
    return total


def make_target(label: str) -> Target:
    if label == JANUS:
        return JanusTarget()
    return WcsTarget(trace="hd", event_loop="auto", **SETTINGS[label])


async def one(label: str, args: argparse.Namespace, pinning: Pinning) -> dict[str, Any]:
    target = make_target(label)
    trace = load_hd_trace()
    lad = Ladder(target, trace, Farm(correlator=target.send_log), pinning, args.warmup, 0.0)
    try:
        base = await lad.start(args.window)
        # wake-ups over a second window of the same steady state (the stream runs on)
        w0, t0 = wakeups(target.pid), time.monotonic()
        await asyncio.sleep(args.window)
        rate = (wakeups(target.pid) - w0) / (time.monotonic() - t0)
    finally:
        await lad.close()
        target.stop()
    return {"label": label, "cpu_pct": base["cpu_pct"], "wakeups_per_s": round(rate), **base}


def summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for label in dict.fromkeys(r["label"] for r in runs):
        cpu = [r["cpu_pct"] for r in runs if r["label"] == label]
        wake = [r["wakeups_per_s"] for r in runs if r["label"] == label]
        out[label] = {
            "cpu_pct": round(statistics.median(cpu), 2),
            "cpu_range": [min(cpu), max(cpu)],
            "wakeups_per_s": round(statistics.median(wake)),
            "wakeups_range": [min(wake), max(wake)],
            "runs": cpu,
        }
    return out


def markdown(res: dict[str, Any]) -> str:
    m, s = res["machine"], res["summary"]
    janus = s.get(JANUS, {}).get("cpu_pct")
    rows = []
    for label, v in s.items():
        ratio = f"{v['cpu_pct'] / janus:.1f}x" if janus and label != JANUS else ""
        lo, hi = v["cpu_range"]
        wl, wh = v["wakeups_range"]
        rows.append(
            f"| {label} | **{v['cpu_pct']}** [{lo}-{hi}] | {ratio} | "
            f"{v['wakeups_per_s']} [{wl}-{wh}] |"
        )
    st = res["stream"]
    return "\n".join(
        [
            BEGIN,
            "",
            "## Idle cost of a live stream, and of the call's silence (issue 17 (e))",
            "",
            f"{m['date']}, {m['nproc']} CPUs, Python {m['python']}, uvloop {m['uvloop']}, "
            f"command `{' '.join(res['command'])}`. One stream, no viewer: "
            f"{st['total_pps']} packets/s, {st['total_kbps']} kbit/s "
            f"(bench.hd_trace). wcs gets it as a SIP call from the callee farm and sends the "
            f"farm its audio (silence, 50 packets/s) and RTCP; Janus gets it on a streaming "
            f"mountpoint and sends nothing back. {res['pinning']}. {res['repeats']} repeats "
            f"of a {res['window_s']} s window after {res['warmup_s']} s, the targets' order "
            "alternating; median [min-max]. Wake-ups: voluntary context switches of all the "
            "server's threads per second (each is a sleep in epoll ended by a packet or a "
            "timer).",
            "",
            "| server | CPU % of one core | vs Janus | wake-ups/s |",
            "| --- | --- | --- | --- |",
            *rows,
            "",
            END,
            "",
        ]
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.run import machine

    facts = machine()  # before this process is pinned (nproc counts allowed CPUs)
    pinning = Pinning() if args.no_pin else Pinning.split(args.server_cpus)
    labels = list(SETTINGS)
    if not args.no_janus:
        labels.append(JANUS)
    runs = []
    for r in range(args.repeats):
        for label in labels if r % 2 == 0 else labels[::-1]:
            res = await one(label, args, pinning)
            log(f"{label}: {res['cpu_pct']} % of a core, {res['wakeups_per_s']} wake-ups/s")
            runs.append(res)
    return {
        "machine": facts,
        "stream": describe(load_hd_trace()),
        "pinning": pinning.describe(),
        "repeats": args.repeats,
        "window_s": args.window,
        "warmup_s": args.warmup,
        "runs": runs,
        "summary": summary(runs),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--server-cpus", default="0")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--no-janus", action="store_true")
    ap.add_argument("--quick", action="store_true", help="1 repeat, 5 s windows")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.window, args.warmup = 1, 5.0, 2.0
    if not args.no_janus and shutil.which("janus") is None:
        print("idle_cost: janus not installed (tests/peers/janus-install.sh)", file=sys.stderr)
        args.no_janus = True
    res = asyncio.run(run(args))
    res["command"] = ["python3", "-m", "bench.idle_cost", *(sys.argv[1:] if argv is None else argv)]
    print(json.dumps(res["summary"], indent=1))
    text = markdown(res)
    print(text)
    if not args.no_write:
        from bench.run import write_results

        write_results(text, Path(args.out), BEGIN, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
