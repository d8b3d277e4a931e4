"""A+V calls at one core, at saturation, through Kamailio and direct (issue 17). Not a test.

The server (``wcs serve``, pinned to one CPU) captures N concurrent A+V calls from the
callee farm (``bench.calls_farm``: the trace's H.264 + PCMU, ~100 packets/s per call,
pinned with Kamailio and this script to the other CPUs). Two routes:

- ``kamailio``: the farm registers behind Kamailio (tests/peers, digest auth) as 1002 (a
  second farm as 1003); the server places each call as 1001 through Kamailio (INVITE → 407
  → INVITE with credentials). Kamailio only signals: media flows farm ↔ server as the SDP
  says.
- ``direct``: the server calls ``sip:<id>@127.0.0.1:<farm port>``, no registrar.

N grows in steps (calls added to the ones already up, at most ``--in-flight`` calls being
set up at once). Each step waits until every call is PUBLISHING, lets it settle
(``--warmup``), then measures a window: the server's CPU (its process and children, from
/proc), loss from the server's own stream statistics (RTP sequence gaps), RSS, the farm's
CPU, send rate, lateness and loop lag, Kamailio's CPU, the machine's steal and busy share
and how busy the server's own CPU was. The run stops at the first step where

- the server's CPU passes the budget, or loss passes 0.1 %,
- a call fails to establish (within ``--setup-timeout``) or to publish,
- the server does not keep up in real time: what it received is more than 3 % off what
  the farm sent (packets waiting in its sockets, or a backlog being worked off),
- or the farm cannot keep up (then the figure is a lower bound: the farm stopped it).

When a step fails while other processes had the server's CPU, that is named too (a busy
machine, not the server's limit). The figure is the largest N that met all of them; where
the stopping step passed the budget, N at the budget is also interpolated between the two
steps (labelled so). Then every call is hung up and must end.

With the server pinned to one core its CPU cannot pass 100 %: at the default budget a
saturated core shows as slower call setups, a server behind the farm, or loss.

    python -m bench.calls_saturation --quick          # small N, 1 repeat, ~2 min
    python -m bench.calls_saturation                  # 3 repeats x 2 routes
    python -m bench.calls_saturation --from-json raw.json   # only rewrite RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from bench.ladder import pin_tree as pin
from bench.procstat import Window, rss_bytes
from bench.wcs_proc import ROOT, WcsServer

MAX_LOSS_PCT = 0.1
KEEP_UP = 0.03  # the server received within 3 % of what the farm sent in the window
FARM_MIN_RATE = 0.97  # the farm must send this share of N x the trace's packet rate
FARM_MAX_LATE_MS = 100.0  # and no packet later than this
FARM_MAX_LAG_MS = 50.0  # p99 of its loop's lag: beyond, it sends in bursts (easier to receive)
FARM_USERS = ("1002", "1003")  # Kamailio accounts of the farms (one contact per user)
ROUTES = ("kamailio", "direct")
BEGIN = "<!-- issue-17 calls at saturation: begin (written by python -m bench.calls_saturation) -->"
END = "<!-- issue-17 calls at saturation: end -->"


def cpus_busy(cpus: set[int]) -> tuple[int, int]:
    """(busy, total) jiffies so far of these CPUs, every process (idle, iowait, steal out)."""
    busy = total = 0
    with open("/proc/stat") as f:
        for line in f:
            name, *vals = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                v = [int(x) for x in vals[:8]]
                total += sum(v)
                busy += sum(v) - v[3] - v[4] - (v[7] if len(v) > 7 else 0)
    return busy, total


def udp_rcvbuf_errors() -> int:
    """UDP datagrams the kernel dropped for full receive buffers (whole machine)."""
    with open("/proc/net/snmp") as f:
        rows = [ln.split() for ln in f if ln.startswith("Udp:")]
    return int(dict(zip(rows[0], rows[1], strict=True)).get("RcvbufErrors", 0))


class FarmCtl:
    """One ``bench.calls_farm`` process, asked for its counts over stdin/stdout."""

    def __init__(self, proc: asyncio.subprocess.Process, info: dict[str, Any]) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.info = info
        self.port = int(info["sip_port"])
        self.trace_pps = float(info["trace_pps"])
        self.final: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls, trace: str) -> FarmCtl:
        argv = [sys.executable, "-m", "bench.calls_farm", trace]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            return cls(proc, json.loads(line))
        except (TimeoutError, ValueError):
            proc.kill()
            await proc.wait()
            raise RuntimeError("callee farm did not start") from None

    async def ask(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        async with self._lock:
            self.proc.stdin.write(line.encode() + b"\n")
            await self.proc.stdin.drain()
            return dict(json.loads(await self.proc.stdout.readline()))

    async def stats(self) -> dict[str, Any]:
        return await self.ask("stats")

    async def register(self, kam: Any, user: str) -> int:
        """REGISTER ``user`` at Kamailio (``tests.peers.kamailio.Kamailio``); the status."""
        r = {"host": kam.host, "port": kam.port, "user": user, "realm": kam.realm}
        answer = await self.ask("register " + json.dumps(r | {"password": kam.password(user)}))
        return int(answer["register"])

    async def stop(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            with contextlib.suppress(OSError):
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.close()
            try:
                out = await asyncio.wait_for(self.proc.stdout.read(), 20)
                lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
                self.final = json.loads(lines[-1]) if lines else {}
            except TimeoutError:
                self.proc.kill()
            await self.proc.wait()


@dataclass
class Rig:
    """One route's processes: the server under test, the farm(s), Kamailio or not."""

    route: str
    server: WcsServer
    farms: list[FarmCtl]
    kam: Any = None  # tests.peers.kamailio.Kamailio

    def startup(self, i: int) -> dict[str, str]:
        cid = f"{self.route[0]}{i}"
        farm = i % len(self.farms)
        if self.kam is None:
            port = self.farms[farm].port
            return {
                "callId": cid,
                "callee": f"sip:{cid}@127.0.0.1:{port}",
                "toStream": cid,
                "hasAudio": "true",
                "hasVideo": "true",
                "sipLogin": "bench",
                "sipDomain": "127.0.0.1",
                "sipPort": str(port),
                "sipRegisterRequired": "false",
            }
        k = self.kam
        return {
            "callId": cid,
            "callee": FARM_USERS[farm],
            "toStream": cid,
            "hasAudio": "true",
            "hasVideo": "true",
            "sipLogin": "1001",
            "sipAuthenticationName": "1001",
            "sipPassword": k.password("1001"),
            "sipDomain": k.realm,
            "sipOutboundProxy": k.host,
            "sipPort": str(k.port),
            "sipRegisterRequired": "false",
        }

    async def farm_stats(self) -> list[dict[str, Any]]:
        return [await f.stats() for f in self.farms]


async def start_rig(
    route: str, args: argparse.Namespace, rundir: Path, stack: AsyncExitStack
) -> Rig:
    kam = None
    if route == "kamailio":
        from tests.peers.kamailio import start_kamailio

        kam = start_kamailio(rundir / "kamailio", debug=1)  # 1: no log line per message
        stack.callback(kam.stop)
    farms = []
    for k in range(args.farms):
        farm = await FarmCtl.start(args.trace)
        stack.push_async_callback(farm.stop)
        if kam is not None and (status := await farm.register(kam, FARM_USERS[k])) != 200:
            raise RuntimeError(f"farm REGISTER as {FARM_USERS[k]} answered {status}")
        farms.append(farm)
    server = WcsServer(
        rundir / "wcs.log", media_ports=max(1000, 4 * args.limit + 200), uvloop=args.uvloop,
        rest_rate_limit="0", max_calls_per_app_key="0",
        **({} if args.uvloop else {"event_loop": args.event_loop}),
    )  # fmt: skip
    stack.callback(server.stop)
    if args.server_cpus:
        pin(server.pid, args.server_cpus)
        for pid in [f.pid for f in farms] + ([kam.pid] if kam is not None else []):
            pin(pid, args.other_cpus)
    return Rig(route, server, farms, kam)


def _live(streams: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """(packets received, lost) of every stream publishing audio and video, by name."""
    return {
        str(s.get("name")): (int(s.get("packetsReceived") or 0), int(s.get("packetsLost") or 0))
        for s in streams
        if s.get("status") == "PUBLISHING" and s.get("hasAudio") and s.get("hasVideo")
    }


async def ramp(rig: Rig, first: int, last: int, in_flight: int, timeout: float) -> list[str]:
    """Start calls ``first``..``last``-1, never more than ``in_flight`` not yet answered
    (ACKed at a farm); the startups that failed, and the calls not set up in ``timeout``."""
    failed: list[str] = []
    est0 = sum(s["established"] for s in await rig.farm_stats())
    end = time.monotonic() + timeout
    for i in range(first, last):
        while True:  # (a saturated server answers REST slowly too: the time checked each call)
            if time.monotonic() > end:
                return [*failed, f"{last - i} of {last - first} calls not set up in {timeout:g} s"]
            est = sum(s["established"] for s in await rig.farm_stats()) - est0
            if (i - first) - est - len(failed) < in_flight:
                break
            await asyncio.sleep(0.02)
        status, answer = await asyncio.to_thread(rig.server.rest, "call/startup", rig.startup(i))
        if status != 200:
            failed.append(f"{rig.startup(i)['callId']}: {status} {answer}")
    return failed


async def wait_published(server: WcsServer, n: int, timeout: float) -> int:
    end = time.monotonic() + timeout
    up = 0
    while time.monotonic() < end:
        up = len(_live(await asyncio.to_thread(server.streams)))
        if up >= n:
            break
        await asyncio.sleep(0.5)
    return up


async def measure(rig: Rig, n: int, seconds: float, rss0: int, cpus: set[int]) -> dict[str, Any]:
    # the farms' counts just before and after each server snapshot: their mean is what had
    # been sent when the server took it (REST latency does not bias received/sent)
    f0a = await rig.farm_stats()
    s0 = _live(await asyncio.to_thread(rig.server.streams))
    f0 = await rig.farm_stats()  # also restarts the farms' lateness figures
    e0 = udp_rcvbuf_errors()
    c0 = cpus_busy(cpus)
    win = Window(rig.server.pid).start()
    farm_wins = [Window(f.pid).start() for f in rig.farms]
    kam_win = Window(rig.kam.pid).start() if rig.kam is not None else None
    await asyncio.sleep(seconds)
    for w in [win, *farm_wins, *([kam_win] if kam_win else [])]:
        w.stop()
    f1 = await rig.farm_stats()  # the window's lateness
    c1 = cpus_busy(cpus)
    e1 = udp_rcvbuf_errors()
    s1 = _live(await asyncio.to_thread(rig.server.streams))
    f1b = await rig.farm_stats()
    rss = rss_bytes(rig.server.pid)
    both = s0.keys() & s1.keys()
    received = sum(s1[k][0] - s0[k][0] for k in both)
    lost = sum(s1[k][1] - s0[k][1] for k in both)

    def delta(key: str, f0: list[dict[str, Any]], f1: list[dict[str, Any]]) -> int:
        return sum(int(b[key]) - int(a[key]) for a, b in zip(f0, f1, strict=True))

    sent = (delta("sent", f0a, f1) + delta("sent", f0, f1b)) / 2  # between the snapshots
    live = sum(int(f["established"]) - int(f["ended"]) for f in f1)  # calls the farms feed
    expected = live * rig.farms[0].trace_pps
    point: dict[str, Any] = {
        "calls": n,
        "publishing": len(s1),
        "window_s": round(win.seconds, 2),
        "cpu_pct": round(win.cpu_pct, 1),
        "cpu_pct_per_call": round(win.cpu_pct / n, 4),
        "loss_pct": round(100.0 * lost / (received + lost), 4) if received + lost else None,
        "lost_packets": lost,
        "received_pps": round(received / win.seconds),
        "received_per_sent": round(received / sent, 4) if sent else None,
        "expected_pps": round(expected),
        "farm_live_calls": live,
        "cpu_us_per_packet": round(win.cpu / received * 1e6, 2) if received else None,
        "rss_mb": round(rss / 2**20, 1),
        "rss_per_call_kb": round((rss - rss0) / 1024 / n, 1),
        "steal_pct": round(win.steal_pct, 1),
        "machine_busy_pct": round(win.machine_busy_pct, 1),  # 100: every CPU busy
        # the server's own CPU(s), every process on them: beyond cpu_pct, others ran there
        "server_core_busy_pct": round(100 * (c1[0] - c0[0]) / (c1[1] - c0[1]) * len(cpus), 1)
        if cpus and c1[1] > c0[1]
        else None,
        "udp_rcvbuf_errors": e1 - e0,  # the whole machine's, farms' sockets included
        "farm_cpu_pct": [round(w.cpu_pct, 1) for w in farm_wins],
        "farm_sent_pps": round(delta("sent", f0, f1) / win.seconds),
        "farm_rx_pps": round(delta("rx_packets", f0, f1) / win.seconds),
        "farm_send_errors": delta("send_errors", f0, f1),
        "farm_late_max_ms": max(s["late_max_ms"] for s in f1),
        "farm_lag_p99_ms": max(s["lag_p99_ms"] or 0.0 for s in f1),
    }
    if kam_win is not None:
        point["kamailio_cpu_pct"] = round(kam_win.cpu_pct, 1)
    return point


def reasons(point: dict[str, Any], budget: float) -> list[str]:
    """Why this step does not count (empty: it does)."""
    out = []
    if point.get("failed"):
        out.append(f"calls failed: {point['failed'][0]} ({len(point['failed'])})")
    if point["publishing"] < point["calls"]:
        out.append(f"{point['calls'] - point['publishing']} calls not publishing")
    if point["loss_pct"] is None or point["loss_pct"] > MAX_LOSS_PCT:
        out.append(f"loss {point['loss_pct']} %")
    if point["cpu_pct"] > budget:
        out.append(f"CPU {point['cpu_pct']} % > {budget:g} %")
    ratio = point.get("received_per_sent")
    if ratio is None or abs(ratio - 1) > KEEP_UP:
        # behind (packets wait in its sockets) or catching up on a backlog: not real time
        out.append(f"server not keeping up: received {ratio} x what the farm sent")
    core = point.get("server_core_busy_pct")
    if out and core is not None and core >= 95 and point["cpu_pct"] < min(budget, core) - 10:
        # a stop the server's capacity did not cause: other processes had its CPU
        out.append(f"server starved: its CPU {core} % busy, {point['cpu_pct']} % of it the server")
    if farm_limited(point):
        out.append(
            f"callee farm saturated (sent {point['farm_sent_pps']}/{point['expected_pps']} "
            f"packets/s, late max {point['farm_late_max_ms']} ms, loop lag p99 "
            f"{point['farm_lag_p99_ms']} ms, "
            f"CPU {point['farm_cpu_pct']} %)"
        )
    return out


def farm_limited(point: dict[str, Any]) -> bool:
    return bool(
        point["farm_sent_pps"] < FARM_MIN_RATE * point["expected_pps"]
        or point["farm_late_max_ms"] > FARM_MAX_LATE_MS
        or point["farm_lag_p99_ms"] > FARM_MAX_LAG_MS
    )


async def hang_up(rig: Rig, ids: list[str], established: int) -> dict[str, Any]:
    """Terminate every call; they must end at the farm(s) and leave no stream."""
    t0 = time.monotonic()
    sem = asyncio.Semaphore(16)
    statuses: list[int] = []

    async def one(cid: str) -> None:
        async with sem:
            st, _ = await asyncio.to_thread(rig.server.rest, "call/terminate", {"callId": cid})
            statuses.append(st)

    await asyncio.gather(*(one(c) for c in ids))
    ended = left = -1
    while time.monotonic() - t0 < 60:
        ended = sum(s["ended"] for s in await rig.farm_stats())
        left = len(await asyncio.to_thread(rig.server.streams))
        if ended >= established and left == 0:
            break
        await asyncio.sleep(0.5)
    return {
        "terminate_ok": sum(1 for s in statuses if s == 200),
        "terminate_sent": len(ids),
        "farm_established": established,
        "farm_ended": ended,
        "streams_left": left,
        "seconds": round(time.monotonic() - t0, 1),
        "ok": ended >= established and left == 0,
    }


async def saturate(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    rss0 = rss_bytes(rig.server.pid)
    points: list[dict[str, Any]] = []
    started = 0
    for n in range(args.start, args.limit + 1, args.step):
        t0 = time.monotonic()
        failed = await ramp(rig, started, n, args.in_flight, args.setup_timeout)
        t1 = time.monotonic()
        started = n
        live = sum(s["established"] - s["ended"] for s in await rig.farm_stats())
        await wait_published(rig.server, live, 20.0 + n / 20)  # the calls set up, no more
        t2 = time.monotonic()
        await asyncio.sleep(args.warmup)
        point = await measure(rig, n, args.window, rss0, args.server_cpus)
        point["failed"] = failed
        point["ramp_s"], point["publish_wait_s"] = round(t1 - t0, 2), round(t2 - t1, 2)
        point["not_counted"] = reasons(point, args.budget)
        points.append(point)
        print(json.dumps({"route": rig.route, **point}), flush=True)
        if point["not_counted"]:
            break
    established = sum(s["established"] for s in await rig.farm_stats())
    ids = [rig.startup(i)["callId"] for i in range(started)]
    out = verdict(points, args.budget)
    out["hangup"] = await hang_up(rig, ids, established)
    out["points"] = points
    return out


def verdict(points: list[dict[str, Any]], budget: float) -> dict[str, Any]:
    ok = [p for p in points if not p["not_counted"]]
    best = ok[-1] if ok else None
    last = points[-1] if points else None
    stop = last["not_counted"] if last and last["not_counted"] else ["step limit reached"]
    at_budget = None
    if best is not None and last is not None and last is not best and last["cpu_pct"] > budget:
        c1, c2 = best["cpu_pct"], last["cpu_pct"]
        n1, n2 = best["calls"], last["calls"]
        at_budget = round(n1 + (budget - c1) * (n2 - n1) / (c2 - c1), 1)
    return {
        "calls": best["calls"] if best else 0,
        "cpu_pct": best["cpu_pct"] if best else None,
        "loss_pct": best["loss_pct"] if best else None,
        "rss_per_call_kb": best["rss_per_call_kb"] if best else None,
        "cpu_pct_per_call": best["cpu_pct_per_call"] if best else None,
        "calls_at_budget_interpolated": at_budget,
        "stopped_by": "; ".join(stop),
        "farm_limited": bool(last and farm_limited(last)),
        "starved": any(r.startswith("server starved") for r in stop),  # a machine, not wcs, limit
    }


async def one_run(route: str, args: argparse.Namespace) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wcs-calls-sat-")))
        rig = await start_rig(route, args, tmp, stack)
        await asyncio.sleep(1.0)  # the server's start-up work done
        out = await saturate(rig, args)
        for f in rig.farms:
            await f.stop()
        sources: dict[str, int] = {}
        for f in rig.farms:
            for addr, count in f.final.pop("invites_from", {}).items():
                sources[addr] = sources.get(addr, 0) + count
        out["farms_final"] = [f.final for f in rig.farms]
        out["trace_pps"] = rig.farms[0].trace_pps
        out["invites_from"] = sources
        if rig.kam is not None:  # the route held: every INVITE reached the farm via Kamailio
            out["all_invites_via_kamailio"] = set(sources) == {f"{rig.kam.host}:{rig.kam.port}"}
        return out


def spread(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}  # fmt: skip


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for route, rs in runs.items():
        interp = [r["calls_at_budget_interpolated"] for r in rs]
        out[route] = {
            "calls": spread([r["calls"] for r in rs]),
            "calls_at_budget_interpolated": spread([v for v in interp if v is not None]),
            "cpu_pct_per_call": spread([r["cpu_pct_per_call"] for r in rs if r["calls"]]),
            "rss_per_call_kb": spread([r["rss_per_call_kb"] for r in rs if r["calls"]]),
            "stopped_by": [r["stopped_by"] for r in rs],
            "farm_limited_runs": sum(1 for r in rs if r["farm_limited"]),
            "starved_runs": sum(1 for r in rs if r.get("starved")),
            "hangup_ok_runs": sum(1 for r in rs if r["hangup"]["ok"]),
        }
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(args.in_flight + 4))
    runs: dict[str, list[dict[str, Any]]] = {r: [] for r in args.routes}
    for rep in range(args.repeats):
        order = args.routes if rep % 2 == 0 else args.routes[::-1]  # alternate the order
        for route in order:
            print(f"# repeat {rep + 1}, route {route}", flush=True)
            r = await one_run(route, args)
            r["repeat"] = rep + 1
            runs[route].append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "points"}), flush=True)
    return {"runs": runs, "summary": summarize(runs)}


def _fmt(s: dict[str, Any], unit: str = "") -> str:
    if s["median"] is None:
        return "—"
    return f"**{s['median']:g}**{unit} [{s['min']:g}, {s['max']:g}]"


def _pps(res: dict[str, Any]) -> str:
    rates = {r.get("trace_pps") for runs in res["runs"].values() for r in runs}
    return "/".join(f"{v:.0f}" for v in sorted(rates - {None})) or "?"


def markdown(res: dict[str, Any]) -> str:
    a = res["settings"]
    L = [BEGIN, "", "## Calls per core at saturation (issue 17)", ""]
    L += [
        f"{res['started']}, {res['nproc']} CPUs, command `{' '.join(res['command'])}`. Each "
        f"A+V call sends the {a['trace']} trace (H.264 + PCMU, {_pps(res)} packets/s). Server "
        f"pinned to CPU {a['server_cpus']}, callee farm ({a['farms']} process(es)), Kamailio "
        f"and the driver to CPU {a['other_cpus']}. Steps of {a['step']} calls from "
        f"{a['start']} (at most {a['in_flight']} being set up at once), {a['warmup']:g} s "
        f"warm-up, {a['window']:g} s window; a step counts if the server's CPU ≤ "
        f"{a['budget']:g} % of a core, loss ≤ {MAX_LOSS_PCT} %, every call published, the "
        f"server received within {KEEP_UP:.0%} of what the farm sent (real time), and the "
        f"farm sent ≥ {FARM_MIN_RATE:.0%} of its packets, none later than "
        f"{FARM_MAX_LATE_MS:g} ms, its loop lag p99 ≤ {FARM_MAX_LAG_MS:g} ms (else it sends "
        "in bursts); other processes on the server's CPU are named when a step fails. "
        f"{a['repeats']} repeat(s), routes alternating; "
        "median [min, max]. Kamailio only signals (media flows farm ↔ server as the SDP says).",
        "",
        "| route | A+V calls at one core (largest N that counted) | N at the budget "
        "(interpolated between steps) | server CPU per call (% of a core) | RSS per call "
        "(KB) | stopped by |",
        "|---|---|---|---|---|---|",
    ]
    for route, s in res["summary"].items():
        L.append(
            f"| {route} | {_fmt(s['calls'])} | {_fmt(s['calls_at_budget_interpolated'])} | "
            f"{_fmt(s['cpu_pct_per_call'])} | {_fmt(s['rss_per_call_kb'])} | "
            f"{'; '.join(s['stopped_by'])} |"
        )
    L += ["", "Every step, every run:", ""]
    L += [
        "| route | repeat | calls | server CPU % | its core busy % | loss % | received pkt/s "
        "| received/sent | µs/packet | RSS/call KB | farm CPU % | farm late max ms | Kamailio "
        "CPU % | steal % | machine busy % | counted |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for route, runs in res["runs"].items():
        for r in runs:
            for p in r["points"]:
                L.append(
                    f"| {route} | {r['repeat']} | {p['calls']} | {p['cpu_pct']} | "
                    f"{p.get('server_core_busy_pct')} | {p['loss_pct']} | {p['received_pps']} | "
                    f"{p.get('received_per_sent')} | {p['cpu_us_per_packet']} | "
                    f"{p['rss_per_call_kb']} | {p['farm_cpu_pct']} | {p['farm_late_max_ms']} | "
                    f"{p.get('kamailio_cpu_pct', '—')} | {p['steal_pct']} | "
                    f"{p['machine_busy_pct']} | {'; '.join(p['not_counted']) or 'yes'} |"
                )
    notes = []
    for route, s in res["summary"].items():
        if s["farm_limited_runs"]:
            notes.append(
                f"- {route}: the callee farm, not the server, stopped {s['farm_limited_runs']} "
                "run(s): that figure is a lower bound (more CPUs for the farm, `--farms 2`)."
            )
        if s.get("starved_runs"):
            notes.append(
                f"- {route}: other processes had the server's CPU when {s['starved_runs']} "
                "run(s) stopped: not the server's limit, rerun on a quiet machine."
            )
        notes.append(
            f"- {route}: every call hung up and ended in {s['hangup_ok_runs']} of "
            f"{len(s['stopped_by'])} run(s)."
        )
    via = [r.get("all_invites_via_kamailio") for r in res["runs"].get("kamailio", [])]
    if via:
        ok = sum(1 for v in via if v)
        notes.append(
            f"- kamailio: every INVITE reached the farm from Kamailio in {ok} of {len(via)} run(s)."
        )
    L += ["", *notes, "", END]
    return "\n".join(L) + "\n"


def write_section(text: str, path: Path) -> None:
    """Our section of RESULTS.md replaced (or appended), everything else kept."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    if BEGIN in old and END in old:
        text = old[: old.index(BEGIN)] + text.rstrip("\n") + old[old.index(END) + len(END) :]
    else:
        text = old.rstrip("\n") + "\n\n" + text
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--routes", default=",".join(ROUTES), help="kamailio,direct (order)")
    ap.add_argument("--start", type=int, default=100, help="calls at the first step")
    ap.add_argument("--step", type=int, default=50, help="calls added per step")
    ap.add_argument("--limit", type=int, default=800, help="never more calls than this")
    ap.add_argument("--budget", type=float, default=100.0, help="server CPU, %% of a core")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--window", type=float, default=8.0, help="measured seconds per step")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds before each window")
    ap.add_argument("--in-flight", type=int, default=16, help="calls being set up at once")
    ap.add_argument("--setup-timeout", type=float, default=60.0, help="s to set up one step")
    ap.add_argument("--farms", type=int, default=1, choices=(1, 2), help="callee farm processes")
    ap.add_argument("--server-cpu", type=int, default=0, help="pin the server (-1: don't)")
    ap.add_argument("--uvloop", action="store_true", help="the server on uvloop")
    ap.add_argument(
        "--event-loop", default="auto", help="the server's event_loop (auto: uvloop if installed)"
    )
    ap.add_argument(
        "--trace",
        default="recorded",
        help="what each call sends: recorded (~100 "
        "packets/s), hd (~224, bench.hd_trace) or a pcap with H.264 + PCMU",
    )
    ap.add_argument("--quick", action="store_true", help="20, 40, 60 calls, 1 repeat, ~2 min")
    ap.add_argument("--json", default="", help="write the raw results here")
    # --out: by default bench/RESULTS.md; with --quick none unless given (checks, not results)
    ap.add_argument("--out", default="", help="RESULTS.md to update (default: bench/RESULTS.md)")
    ap.add_argument("--from-json", default="", help="only rewrite RESULTS.md from raw results")
    args = ap.parse_args(argv)
    if args.quick:
        args.start, args.step, args.limit, args.repeats = 20, 20, 60, 1
        args.window, args.warmup = 4.0, 2.0
    args.routes = [r for r in args.routes.split(",") if r]
    if any(r not in ROUTES for r in args.routes):
        ap.error(f"--routes: choose from {ROUTES}")
    cpus = os.sched_getaffinity(0)
    args.server_cpus = {args.server_cpu} if args.server_cpu >= 0 and len(cpus) > 1 else set()
    args.other_cpus = cpus - args.server_cpus
    if args.server_cpus:
        os.sched_setaffinity(0, args.other_cpus)  # this driver, and what it starts, too
    # SIGTERM (timeout, kill) like Ctrl-C: the exit stacks stop the server, farms, Kamailio
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.from_json:
        res = json.loads(Path(args.from_json).read_text())
    else:
        t0 = time.monotonic()
        res = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        res |= asyncio.run(run(args))
        res["seconds"] = round(time.monotonic() - t0)
        res["nproc"] = len(cpus)
        res["command"] = ["python", "-m", "bench.calls_saturation", *(argv or sys.argv[1:])]
        res["settings"] = {k: sorted(v) if isinstance(v, set) else v for k, v in vars(args).items()}
    print(json.dumps(res["summary"], indent=1))
    raw = Path(args.json) if args.json else Path(tempfile.mkdtemp(prefix="wcs-calls-")) / "raw.json"
    if not args.from_json:
        raw.write_text(json.dumps(res, indent=1))
        print(f"calls_saturation: raw results in {raw}", flush=True)
    out = args.out or ("" if args.quick else str(ROOT / "bench" / "RESULTS.md"))
    if out:
        write_section(markdown(res), Path(out))
        print(f"calls_saturation: wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
