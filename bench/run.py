"""Runs every issue-8 figure, prints them, and writes them into bench/RESULTS.md.

    python3 -m bench.run            # full run, ~6 min on 2 cores
    python3 -m bench.run --quick    # smaller counts, ~2 min
Every step is bounded in time and count, loopback only. Janus and Kamailio are started on
free ports (tests/peers); py-spy profiles are taken when py-spy is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.calls_run import measure_calls
from bench.pyspy_summary import table
from bench.setup_run import measure_setups
from bench.targets import JanusTarget, RelayTarget, Target, WcsTarget
from bench.trace_feed import load_trace
from bench.viewers_run import TARGET_STREAM_PPS, measure

HERE = Path(__file__).resolve().parent
BEGIN = "<!-- issue-8 load figures: begin (written by python3 -m bench.run) -->"
END = "<!-- issue-8 load figures: end -->"


def _cmd(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine() -> dict[str, str]:
    try:
        from importlib.metadata import version

        uv = version("uvloop")
    except Exception:  # PackageNotFoundError
        uv = "not installed"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": _cmd(["nproc"]),
        "lscpu": "\n".join(_cmd(["lscpu"]).splitlines()[:10]),
        "python": platform.python_version(),
        "uvloop": uv,
        "janus": (_cmd(["janus", "--version"]).splitlines() or ["?"])[0],
        "kamailio": (_cmd(["kamailio", "-v"]).splitlines() or ["?"])[0],
        "kernel": platform.release(),
    }


async def viewers_step(
    target_factory: Any, n: int, seconds: float, pyspy: str | None = None
) -> dict[str, Any]:
    target: Target = target_factory()
    try:
        return await measure(target, n, seconds=seconds, pyspy=pyspy)
    finally:
        target.stop()


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    res: dict[str, Any] = {"machine": machine(), "quick": quick}
    spy = shutil.which("py-spy") is not None
    tmp = Path(tempfile.mkdtemp(prefix="wcs-bench-"))
    trace = load_trace()
    res["stream"] = {
        "audio_pps": round(trace.rate("audio")[0], 1),
        "video_pps": round(trace.rate("video")[0], 1),
        "audio_kbps": round(trace.rate("audio")[1] / 1000, 1),
        "video_kbps": round(trace.rate("video")[1] / 1000, 1),
        "loop_s": round(trace.duration, 2),
    }
    secs = 6.0 if quick else 10.0

    # (1) calls
    levels = [40] if quick else [50, 100, 150, 200]
    res["calls"] = []
    for n in levels:
        log(f"calls: {n} concurrent A+V calls (asyncio)")
        r = await measure_calls(
            n, seconds=secs, pyspy=str(tmp / f"calls{n}.spy") if spy and n == levels[-1] else None
        )
        res["calls"].append(r)
        log(json.dumps(r))
        if (r.get("loss_pct") or 0) >= 0.1 or r.get("cpu_pct", 0) > 90:
            break
    if spy and (tmp / f"calls{levels[-1]}.spy").exists():
        res["calls_profile"] = table(str(tmp / f"calls{levels[-1]}.spy"))
    if not args.no_uvloop:
        n = levels[-1]
        log(f"calls: {n} concurrent A+V calls (uvloop)")
        r = await measure_calls(n, seconds=secs, uvloop=True)
        res["calls"].append(r)
        log(json.dumps(r))

    # (2) viewers per core + (3) latency at equal load, wcs and Janus in the same run
    nv = 30 if quick else 100
    res["viewers"] = []
    # Every farm viewer comes from 127.0.0.1: lift the per-address limit (default 100).
    per_ip = {"max_viewers_per_ip": max(args.max_viewers, nv) + 50}
    steps: list[tuple[str, Any]] = [("wcs asyncio", lambda: WcsTarget(**per_ip))]
    if not args.no_uvloop:
        steps.append(("wcs uvloop", lambda: WcsTarget(uvloop=True, **per_ip)))
    if not args.no_janus:
        steps.append(("janus", lambda: JanusTarget()))
    if args.relay:
        steps.append(("relay", lambda: RelayTarget()))
    for name, factory in steps:
        log(f"viewers: {nv} on one stream, {name}")
        pyspy = str(tmp / "viewers.spy") if spy and name == "wcs asyncio" else None
        r = await viewers_step(factory, nv, secs, pyspy)
        res["viewers"].append(r)
        log(json.dumps(r))
    if spy and (tmp / "viewers.spy").exists():
        res["viewers_profile"] = table(str(tmp / "viewers.spy"))
    # (3) latency at half load: enough viewers for ~50 % of one core of the wcs process
    base = next(
        (
            v
            for v in res["viewers"]
            if v["target"].startswith("wcs server") and v.get("cpu_us_per_packet")
        ),
        None,
    )
    if base is not None and not quick:
        per_pkt = base["cpu_us_per_packet"] / 1e6
        half = max(10, min(args.max_viewers, int(0.5 / (per_pkt * trace.rate()[0]))))
        runs = []
        for i in range(3):  # tails are sensitive to whatever else the machine runs
            log(f"latency at half load: {half} viewers, wcs asyncio, run {i + 1}/3")
            r = await viewers_step(lambda: WcsTarget(**per_ip), half, secs)
            r["half_load"] = True
            res["viewers"].append(r)
            runs.append(r)
            log(json.dumps(r))

    # (4) call setups per second through Kamailio
    m = 50 if quick else 200
    log(f"setups: {m} calls through Kamailio, 20 in flight")
    res["setups"] = await measure_setups(m, 20)
    log(json.dumps(res["setups"]))
    return res


def summary(res: dict[str, Any]) -> dict[str, Any]:
    """The five headline figures."""
    out: dict[str, Any] = {}
    pps = res["stream"]["audio_pps"] + res["stream"]["video_pps"]
    for c in res["calls"]:
        # the farm keeps real time? (a saturated machine makes it fall behind, then burst)
        c["feed_regular"] = abs(c.get("received_pps", 0) / (c["calls"] * pps) - 1) < 0.03
    ok = [c for c in res["calls"] if c.get("loss_pct") is not None and c["loss_pct"] < 0.1]
    if ok:
        out["max_calls_measured_under_0_1pct_loss"] = max(c["calls"] for c in ok)
    ok_calls = [c for c in ok if "asyncio" in c["target"] and c["feed_regular"]]
    if ok_calls:
        best = max(ok_calls, key=lambda c: c["calls"])
        out["calls_per_core"] = best.get("calls_per_core_at_this_load")
        out["calls_measured"] = best["calls"]
        out["calls_loss_pct"] = best["loss_pct"]
        out["calls_cpu_pct"] = best["cpu_pct"]
        out["rss_per_call_kb"] = best["rss_per_call_kb"]
    uv_calls = [c for c in res["calls"] if "uvloop" in c["target"]]
    if uv_calls:
        out["calls_per_core_uvloop"] = uv_calls[-1].get("calls_per_core_at_this_load")
    wcs = next(
        (
            v
            for v in res["viewers"]
            if v["target"] == "wcs server (asyncio)" and not v.get("half_load")
        ),
        None,
    )
    wcs_uv = next((v for v in res["viewers"] if v["target"] == "wcs server (uvloop)"), None)
    janus = next((v for v in res["viewers"] if v["target"].startswith("Janus")), None)
    halves = [v for v in res["viewers"] if v.get("half_load")]
    if wcs:
        out["viewers_per_core_this_stream"] = wcs.get("viewers_per_core_this_stream")
        out["viewers_per_core_1_5mbps"] = wcs.get("viewers_per_core_1_5mbps")
        out["cpu_us_per_packet"] = wcs.get("cpu_us_per_packet")
        out["rss_per_viewer_kb"] = wcs.get("rss_per_viewer_kb")
    if wcs_uv:
        out["viewers_per_core_1_5mbps_uvloop"] = wcs_uv.get("viewers_per_core_1_5mbps")
        out["cpu_us_per_packet_uvloop"] = wcs_uv.get("cpu_us_per_packet")
    if janus and wcs and janus.get("cpu_us_per_packet"):
        out["janus_cpu_us_per_packet"] = janus["cpu_us_per_packet"]
        out["cpu_per_packet_ratio_wcs_to_janus"] = round(
            wcs["cpu_us_per_packet"] / janus["cpu_us_per_packet"], 2
        )
        if wcs_uv:
            out["cpu_per_packet_ratio_wcs_uvloop_to_janus"] = round(
                wcs_uv["cpu_us_per_packet"] / janus["cpu_us_per_packet"], 2
            )
        if janus.get("video_latency_p50_ms") and wcs.get("video_latency_p50_ms"):
            out["video_latency_p50_ratio_wcs_to_janus"] = round(
                wcs["video_latency_p50_ms"] / janus["video_latency_p50_ms"], 2
            )
            out["video_latency_p99_ratio_wcs_to_janus"] = round(
                wcs["video_latency_p99_ms"] / janus["video_latency_p99_ms"], 2
            )
    if halves:

        def med(key: str) -> Any:
            xs = sorted(v[key] for v in halves if v.get(key) is not None)
            return xs[len(xs) // 2] if xs else None

        out["half_load_viewers"] = halves[0]["viewers"]
        out["half_load_cpu_pct"] = med("cpu_pct")
        out["half_load_latency_p50_ms"] = med("latency_p50_ms")
        out["half_load_latency_p99_ms"] = med("latency_p99_ms")
        out["half_load_latency_p99_range_ms"] = [
            min(v["latency_p99_ms"] for v in halves),
            max(v["latency_p99_ms"] for v in halves),
        ]
        out["half_load_runs"] = len(halves)
    s = res.get("setups", {})
    out["setups_per_s"] = s.get("setups_per_s")
    return out


def _row(cols: list[Any]) -> str:
    return "| " + " | ".join("" if c is None else str(c) for c in cols) + " |"


def markdown(res: dict[str, Any], argv: list[str]) -> str:
    m = res["machine"]
    s = summary(res)
    st = res["stream"]
    L: list[str] = [BEGIN, "", "## Load figures (issue 8)", ""]
    L += [
        f"Run: {m['date']}, `{' '.join(argv)}`"
        + (" (quick: small counts)" if res.get("quick") else ""),
        "",
    ]
    L += [
        "Machine: " + f"{m['nproc']} CPUs, Python {m['python']}, uvloop {m['uvloop']}, "
        f"{m['janus']}, {m['kamailio']}, kernel {m['kernel']}",
        "",
        "```",
        m["lscpu"],
        "```",
        "",
    ]
    L += [
        f"Stream: the looped trace conformance/traces/02-call-av.pcap (baresip): H.264 "
        f"{st['video_pps']} packets/s ({st['video_kbps']} kbit/s), PCMU {st['audio_pps']} "
        f"packets/s ({st['audio_kbps']} kbit/s); loop {st['loop_s']} s.",
        "",
    ]
    L += ["### The five figures", "", "| figure | result |", "|---|---|"]
    L.append(
        _row(
            [
                "(1) concurrent A+V calls per core, < 0.1 % loss",
                f"**{s.get('calls_per_core')}** calls/core ({s.get('calls_measured')}"
                f" calls at {s.get('calls_cpu_pct')} % of a core, loss "
                f"{s.get('calls_loss_pct')} %); uvloop: {s.get('calls_per_core_uvloop')}; "
                f"largest count run: {s.get('max_calls_measured_under_0_1pct_loss')} "
                f"concurrent calls with < 0.1 % loss",
            ]
        )
    )
    L.append(
        _row(
            [
                "(2) viewers per core, one stream",
                f"**{s.get('viewers_per_core_1_5mbps')}** viewers/core of a 1.5 Mbit/s stream "
                f"(~{TARGET_STREAM_PPS:.0f} packets/s), {s.get('viewers_per_core_this_stream')}"
                f" of the trace stream; **{s.get('cpu_us_per_packet')} µs CPU per forwarded "
                f"packet**; uvloop: {s.get('cpu_us_per_packet_uvloop')} µs, "
                f"{s.get('viewers_per_core_1_5mbps_uvloop')} viewers/core",
            ]
        )
    )
    L.append(
        _row(
            [
                "(3) server-added latency at half load",
                f"p50 **{s.get('half_load_latency_p50_ms')} ms**, p99 "
                f"**{s.get('half_load_latency_p99_ms')} ms** (median of "
                f"{s.get('half_load_runs')} runs, p99 range "
                f"{s.get('half_load_latency_p99_range_ms')} ms; "
                f"{s.get('half_load_viewers')} viewers, server at "
                f"{s.get('half_load_cpu_pct')} % of a core)",
            ]
        )
    )
    L.append(
        _row(["(4) call setups per second through Kamailio", f"**{s.get('setups_per_s')}**/s"])
    )
    L.append(
        _row(
            [
                "(5) memory",
                f"**{s.get('rss_per_call_kb')} KB** RSS per call, "
                f"**{s.get('rss_per_viewer_kb')} KB** per viewer",
            ]
        )
    )
    L.append(
        _row(
            [
                "Janus, same run: CPU per forwarded packet",
                f"Janus {s.get('janus_cpu_us_per_packet')} µs → wcs/Janus ratio "
                f"**{s.get('cpu_per_packet_ratio_wcs_to_janus')}** (uvloop "
                f"{s.get('cpu_per_packet_ratio_wcs_uvloop_to_janus')})",
            ]
        )
    )
    L.append(
        _row(
            [
                "Janus, same run: video latency ratio at equal load (wcs/Janus)",
                f"p50 {s.get('video_latency_p50_ratio_wcs_to_janus')}, p99 "
                f"{s.get('video_latency_p99_ratio_wcs_to_janus')}",
            ]
        )
    )
    L += ["", "### (1) Calls captured", ""]
    cols = [
        "target",
        "calls",
        "published",
        "loss_pct",
        "received_pps",
        "cpu_pct",
        "cpu_us_per_packet",
        "calls_per_core_at_this_load",
        "rss_per_call_kb",
        "farm_cpu_pct",
        "machine_busy_pct",
        "feed_regular",
    ]
    L += [_row(cols), _row(["---"] * len(cols))]
    L += [_row([c.get(k) for k in cols]) for c in res["calls"]]
    L += ["", "### (2), (3), (5) Viewers of one stream", ""]
    cols = [
        "target",
        "viewers",
        "viewers_failed",
        "forwarded_packets",
        "loss_pct",
        "cpu_pct",
        "cpu_pct_feed_only",
        "cpu_us_per_packet",
        "viewers_per_core_1_5mbps",
        "latency_p50_ms",
        "latency_p99_ms",
        "video_latency_p50_ms",
        "video_latency_p99_ms",
        "rss_per_viewer_kb",
        "connect_p50_s",
        "machine_busy_pct",
    ]
    L += [_row(cols), _row(["---"] * len(cols))]
    L += [_row([v.get(k) for k in cols]) for v in res["viewers"]]
    L += ["", "### (4) Call setups through Kamailio", ""]
    st4 = res.get("setups", {})
    L += [_row(list(st4.keys())), _row(["---"] * len(st4)), _row(list(st4.values()))]
    if res.get("viewers_profile"):
        L += [
            "",
            "### Profile: wcs server forwarding to viewers (py-spy, idle excluded)",
            "",
            res["viewers_profile"],
        ]
    if res.get("calls_profile"):
        L += [
            "",
            "### Profile: wcs server capturing calls (py-spy, idle excluded)",
            "",
            res["calls_profile"],
        ]
    L += [
        "",
        (HERE / "RESULTS-method.md").read_text().strip()
        if (HERE / "RESULTS-method.md").exists()
        else "",
        "",
        END,
    ]
    return "\n".join(L) + "\n"


def write_results(text: str, path: Path, begin: str = BEGIN, end: str = END) -> None:
    """Replace one section of the shared RESULTS.md (between ``begin`` and ``end``, which
    ``text`` carries too), keeping everything else."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    if begin in old and end in old:
        a, b = old.index(begin), old.index(end) + len(end)
        new = old[:a] + text.rstrip("\n") + old[b:]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small counts (~2 min)")
    ap.add_argument("--no-janus", action="store_true")
    ap.add_argument("--no-uvloop", action="store_true")
    ap.add_argument("--relay", action="store_true", help="also the ViewerPeer relay harness")
    ap.add_argument("--max-viewers", type=int, default=400)
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--json", default="", help="also write the raw results here")
    ap.add_argument("--from-json", default="", help="only rewrite RESULTS.md from raw results")
    args = ap.parse_args(argv)
    if not args.no_uvloop:
        try:
            import uvloop  # noqa: F401
        except ImportError:
            args.no_uvloop = True
    if not args.no_janus and shutil.which("janus") is None:
        print("bench: janus not installed (apt-get install janus); skipping Janus", file=sys.stderr)
        args.no_janus = True
    cmd = ["python3", "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)]
    if args.from_json:
        res = json.loads(Path(args.from_json).read_text())
    else:
        res = asyncio.run(run(args))
        res["command"] = cmd
    s = summary(res)
    print(json.dumps(s, indent=1))
    raw = Path(args.json) if args.json else Path(tempfile.mkdtemp(prefix="wcs-bench-")) / "raw.json"
    if not args.from_json:
        raw.write_text(json.dumps(res, indent=1))
        print(
            f"bench: raw results in {raw} (python3 -m bench.run --from-json {raw} rewrites "
            "RESULTS.md from them)"
        )
    write_results(markdown(res, res.get("command", cmd)), Path(args.out))
    with contextlib.suppress(OSError):
        print(f"bench: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
