"""Incoming calls (issue 12): setups per second through Kamailio and CPU per inbound A+V
call, next to the outbound figures (4) and (1) measured in the same repeat, same load.

    python3 -m bench.inbound_run [--repeats 3] [--rates 50,100,200,400,800]
                                 [--setup-calls 200] [--calls 50] [--json out.json]

- **inbound setups**: Kamailio (tests/peers, digest auth); the server registers as 1003
  through REST; SIPp (the caller farm, tests/peers/sipp.py) dials 1003 as 1001 through
  Kamailio (INVITE, 407, INVITE with credentials, proxied, 200, ACK) at each offered rate
  of the ramp, ``setup-calls`` calls per step, each held 1 s then ended by BYE. Rate =
  M / (SIPp started → M-th ESTABLISHED; as figure (4): first request → M-th ACK), from the
  server's
  ``wcs_call_status_changes_total{status="ESTABLISHED"}`` polled every 20 ms; server CPU
  from /proc over the same span. The figure is the best achieved rate of a step with no
  failed call.
- **outbound setups**: bench/setup_run.py as in figure (4) (200 calls, 20 in flight).
- **inbound A+V calls**: ``calls`` SIPp callers through Kamailio, each playing the
  looped PCMU + H.264 of conformance/traces/02-call-av.pcap (bench/trace_feed.py's
  streams, ~100 packets/s per call) from pcaps; once every stream is PUBLISHING and 3 s of
  warm-up, the server's CPU and its receive counters over 10 s.
- **outbound A+V calls**: bench/calls_run.py with the same number of calls (the callee
  farm sends the same trace).
Load: the 1-minute load average and the machine's busy share over each window are kept,
since the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.calls_run import _totals, measure_calls
from bench.procstat import Window
from bench.setup_run import measure_setups
from bench.trace_feed import load_trace
from bench.wcs_proc import WcsServer
from tests.peers.kamailio import Kamailio, start_kamailio
from tests.peers.rtp_pcap import RtpPacket, pcmu_tone, rtp_header
from tests.peers.sipp import SippResult, start_sipp

ESTABLISHED = 'wcs_call_status_changes_total{status="ESTABLISHED"}'


def trace_rtp(seconds: float) -> tuple[list[RtpPacket], list[RtpPacket]]:
    """The trace's PCMU (PT 0) and H.264 (PT 96) looped for ``seconds``, sequence numbers
    and timestamps continuing over the loops."""
    trace = load_trace()
    out: dict[str, list[RtpPacket]] = {"audio": [], "video": []}
    ssrc = {"audio": 0x5150A0A0, "video": 0x5150B0B0}
    loops = int(seconds / trace.duration) + 1
    for k in range(loops):
        for p in trace.packets:
            at = k * trace.duration + p.offset
            if at >= seconds:
                continue
            seq = p.seq_delta + k * trace.seq_span[p.kind]
            ts = p.ts_delta + k * trace.ts_span[p.kind]
            pt = 0 if p.kind == "audio" else 96
            head = rtp_header(pt, seq, ts, ssrc[p.kind], p.marker)
            out[p.kind].append(RtpPacket(at, head + p.payload))
    return out["audio"], out["video"]


def established_count(base: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(ESTABLISHED + " "):
                return float(line.split()[-1])
    return 0.0


class Bed:
    """Kamailio and a server registered there as 1003 (through REST)."""

    def __init__(self, rundir: Path, media_ports: int) -> None:
        self.rundir = rundir
        self.kam: Kamailio = start_kamailio(rundir / "kamailio")
        self.server = WcsServer(
            rundir / "wcs.log", media_ports=media_ports, max_calls_per_app_key="0"
        )
        body = {
            "registrationId": "bench",
            "sipLogin": "1003",
            "sipPassword": self.kam.password("1003"),
            "sipDomain": self.kam.realm,
            "sipOutboundProxy": self.kam.host,
            "sipPort": self.kam.port,
            "toStream": "in-{callId}",
        }
        status, answer = self.server.rest("sip/register", body)
        if status != 200:
            raise RuntimeError(f"sip/register {status}: {answer}")
        deadline = time.monotonic() + 20
        while not self.kam.registered("1003"):
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not register as 1003")
            time.sleep(0.1)

    def sipp(self, name: str, **kw: Any) -> Any:
        return start_sipp(
            self.rundir / name,
            kw.pop("scenario", "uac_pcap.xml"),
            self.kam.host,
            self.kam.port,
            service="1003",
            keys={"from": "1001", "domain": self.kam.realm, "te_pt": "101"},
            auth=("1001", self.kam.password("1001")),
            trace_msg=False,
            **kw,
        )

    def close(self) -> None:
        self.server.stop()
        self.kam.stop()


def setups_step(bed: Bed, calls: int, rate: int) -> dict[str, Any]:
    base = established_count(bed.server.base)
    seen: list[tuple[float, float]] = []  # (time, established so far)
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            n = established_count(bed.server.base) - base
            seen.append((time.monotonic(), n))
            if n >= calls:
                return
            time.sleep(0.02)

    win = Window(bed.server.pid).start()
    t0 = time.monotonic()
    run = bed.sipp(f"setups-{rate}", calls=calls, rate=rate, limit=calls, hold_ms=1000,
                   pcap=pcmu_tone(0.02), timeout_s=120)  # fmt: skip
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    poller.join(90)
    win.stop()
    done.set()
    result: SippResult = run.wait(120)
    last = next((t for t, n in seen if n >= calls), None)
    est = int(seen[-1][1]) if seen else 0
    rate_got = calls / (last - t0) if last else None
    rt = result.stats.get("ResponseTime1(C)", "")
    return {
        "offered_per_s": rate,
        "calls": calls,
        "established": est,
        "sipp_successful": result.successful,
        "sipp_failed": result.failed,
        "setups_per_s": round(rate_got, 1) if rate_got else None,
        "start_to_last_s": round(last - t0, 3) if last else None,
        "invite_to_200_avg_ms": _ms(rt),
        "server_cpu_pct": round(win.cpu_pct, 1),
        "server_cpu_ms_per_setup": round(win.cpu / est * 1000, 2) if est else None,
        "machine_busy_pct": round(win.machine_busy_pct, 1),
    }


def _ms(hms: str) -> float | None:
    """SIPp's ``HH:MM:SS:uuuuuu`` as milliseconds."""
    try:
        h, m, s, us = (int(x) for x in hms.split(":"))
    except ValueError:
        return None
    return round(((h * 60 + m) * 60 + s) * 1000 + us / 1000, 2)


def measure_inbound_setups(calls: int, rates: list[int]) -> dict[str, Any]:
    bed = Bed(Path(tempfile.mkdtemp(prefix="wcs-bench-in-setups-")), 4 * calls + 400)
    try:
        steps = []
        for rate in rates:
            steps.append(setups_step(bed, calls, rate))
            _wait_idle(bed)
    finally:
        bed.close()
    ok = [s["setups_per_s"] for s in steps if s["sipp_failed"] == 0 and s["setups_per_s"]]
    return {"steps": steps, "best_setups_per_s": max(ok) if ok else None}


def _wait_idle(bed: Bed, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bed.server.rest("call/find_all", {})[0] == 404:
            return
        time.sleep(0.2)


def measure_inbound_calls(calls: int, seconds: float = 10.0, warmup: float = 3.0) -> dict[str, Any]:
    hold = 25.0 + seconds + warmup
    audio, video = trace_rtp(hold)
    bed = Bed(Path(tempfile.mkdtemp(prefix="wcs-bench-in-calls-")), 4 * calls + 200)
    out: dict[str, Any] = {"calls": calls}
    run = None
    try:
        run = bed.sipp("calls", scenario="uac_av.xml", calls=calls, rate=min(calls, 25),
                       hold_ms=int(hold * 1000), video=video,
                       files={"audio.ulaw": b"".join(p.data[12:] for p in audio)},
                       timeout_s=int(hold) + 60)  # fmt: skip
        up = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            up, _, _ = _totals(bed.server.streams())
            if up >= calls:
                break
            time.sleep(0.2)
        out["published"] = up
        time.sleep(warmup)
        _, r0, l0 = _totals(bed.server.streams())
        win = Window(bed.server.pid).start()
        s0 = _cpu(run.pid)
        time.sleep(seconds)
        win.stop()
        s1 = _cpu(run.pid)
        n, r1, l1 = _totals(bed.server.streams())
        received, lost = r1 - r0, l1 - l0
        out.update(
            {
                "publishing_at_end": n,
                "received_pps": round(received / win.seconds, 1),
                "loss_pct": round(100.0 * lost / (received + lost), 4) if received + lost else None,
                "cpu_pct": round(win.cpu_pct, 1),
                "cpu_pct_per_call": round(win.cpu_pct / n, 3) if n else None,
                "cpu_us_per_packet": round(win.cpu / received * 1e6, 2) if received else None,
                "sipp_cpu_pct": round(100 * (s1 - s0) / win.seconds, 1),
                "machine_busy_pct": round(win.machine_busy_pct, 1),
            }
        )
    finally:
        bed.close()
        if run is not None:
            run.process.stop(grace=5)
    return out


def _cpu(pid: int) -> float:
    from bench.procstat import cpu_seconds

    return cpu_seconds(pid)


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def repeat_once(args: argparse.Namespace) -> dict[str, Any]:
    rates = [int(r) for r in args.rates.split(",")]
    out: dict[str, Any] = {"load_before": _load()}
    out["outbound_setups"] = asyncio.run(measure_setups(calls=args.setup_calls, concurrency=20))
    out["inbound_setups"] = measure_inbound_setups(args.setup_calls, rates)
    out["load_mid"] = _load()
    out["outbound_calls"] = asyncio.run(measure_calls(args.calls))
    out["inbound_calls"] = measure_inbound_calls(args.calls)
    out["load_after"] = _load()
    return out


def summary(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    def col(get: Any) -> dict[str, Any]:
        values = [v for v in (get(r) for r in repeats) if v is not None]
        if not values:
            return {"median": None, "range": None}
        return {"median": statistics.median(values), "range": [min(values), max(values)]}

    return {
        "outbound_setups_per_s": col(lambda r: r["outbound_setups"].get("setups_per_s")),
        "inbound_setups_per_s": col(lambda r: r["inbound_setups"]["best_setups_per_s"]),
        "outbound_cpu_ms_per_setup": col(
            lambda r: r["outbound_setups"].get("server_cpu_ms_per_setup")
        ),
        "inbound_cpu_ms_per_setup": col(
            lambda r: min(
                (
                    s["server_cpu_ms_per_setup"]
                    for s in r["inbound_setups"]["steps"]
                    if s["server_cpu_ms_per_setup"]
                ),
                default=None,
            )
        ),
        "outbound_cpu_pct_per_av_call": col(
            lambda r: (
                round(r["outbound_calls"]["cpu_pct"] / r["outbound_calls"]["calls"], 3)
                if r["outbound_calls"].get("cpu_pct")
                else None
            )
        ),
        "inbound_cpu_pct_per_av_call": col(lambda r: r["inbound_calls"].get("cpu_pct_per_call")),
        "outbound_cpu_us_per_packet": col(lambda r: r["outbound_calls"].get("cpu_us_per_packet")),
        "inbound_cpu_us_per_packet": col(lambda r: r["inbound_calls"].get("cpu_us_per_packet")),
        "load_1min": col(lambda r: r["load_mid"]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rates", default="50,100,200,400,800")
    ap.add_argument("--setup-calls", type=int, default=200)
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    repeats = []
    for i in range(args.repeats):
        print(f"repeat {i + 1}/{args.repeats} (load {_load()})", flush=True)
        repeats.append(repeat_once(args))
        print(json.dumps(repeats[-1]), flush=True)
    res = {"repeats": repeats, "summary": summary(repeats)}
    print(json.dumps(res["summary"], indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
