"""Fuzz/soak target (issue 18): hostile input at a live server while a live call streams.

    python3 -m bench.soak --quick            # 10^3 of each, ~1 min (run by the test suite)
    python3 -m bench.soak                    # 10^5 of each: the full run, ~15 min
    python3 -m bench.soak --count 20000 --seed 7 --json

One wcs process (loopback, 40 media ports, demo callee on) gets a live call to the built-in
demo callee and a live WebRTC viewer of its stream (``bench.lightrtc`` over WHEP). Then, in
turn, each drawn from one seed:

1. ``count`` mutated SIP messages, half over UDP, half over TCP (``bench.soak_sip``);
2. ``count`` REST requests built from the server's own ``/rest-api/openapi.json``
   (``bench.soak_rest``);
3. ``count`` garbage RTP/RTCP/STUN/DTLS datagrams at every UDP port the server has bound in
   its media range: the call's RTP/RTCP and the viewer's ICE port (``bench.soak_media``).

Throughout, a probe asks ``/health`` and ``/rest-api/call/find`` for the live call every
0.25 s. The report gives: the server still running (crash), 5xx answers, requests left
unanswered or hanging, probe failures, the live call still ESTABLISHED and its viewer still
receiving at the end, and the open fds, RSS and asyncio tasks of the server before → after
(from /proc/PID and the ``wcs_asyncio_tasks`` gauge in /metrics). Findings are every one of
those that is not zero, and RSS growth above ``RSS_BOUND_MB``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.httpc import post_json, request
from bench.lightrtc import LightViewer
from bench.procstat import rss_bytes
from bench.soak_media import bound_udp_ports, fuzz_media
from bench.soak_rest import Target, fuzz_rest, pools
from bench.soak_sip import fuzz_sip, start_busy_sink
from bench.wcs_proc import WcsServer
from wcs.webrtc.certificate import Certificate

QUICK = 1000
FULL = 100_000
MEDIA_PORTS = 40
RSS_BOUND_MB = 64.0  # growth over a whole run that still counts as bounded
PROBE_EVERY = 0.25
SETTLE_S = 60.0  # longest wait for connections, tasks and calls to wind down after the load


@dataclass
class Snapshot:
    """The server process's resources at one moment (see ``snapshot``)."""

    fds: int = 0
    rss_mb: float = 0.0
    tasks: int = 0


@dataclass
class Probe:
    """What the REST probe saw while the load ran."""

    sent: int = 0
    failures: list[str] = field(default_factory=list)
    worst_s: float = 0.0


@dataclass
class Report:
    count: int
    seed: int
    seconds: float = 0.0
    crashed: bool = False
    before: Snapshot | None = None
    after: Snapshot | None = None
    sip: dict[str, Any] = field(default_factory=dict)
    rest: dict[str, Any] = field(default_factory=dict)
    media: dict[str, Any] = field(default_factory=dict)
    probe: dict[str, Any] = field(default_factory=dict)
    call_status_at_end: str = ""
    viewer: dict[str, Any] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    rss_mb_after: dict[str, float] = field(default_factory=dict)  # which phase grew RSS
    log_tracebacks: int = 0
    log_excerpt: str = ""

    def findings(self) -> list[str]:
        out = []
        if self.crashed:
            out.append("server process exited")
        if self.rest.get("5xx"):
            out.append(f"{self.rest['5xx']} REST answers were 5xx")
        for key in ("no_answer", "hangs"):
            if self.rest.get(key):
                out.append(f"REST {key}: {self.rest[key]}")
        if self.probe.get("failures"):
            out.append(f"{len(self.probe['failures'])} probe failures")
        if self.call_status_at_end != "ESTABLISHED":
            out.append(f"live call ended as {self.call_status_at_end!r}")
        if not self.viewer.get("receiving_at_end"):
            out.append("the viewer stopped receiving")
        if self.before and self.after:
            if self.after.fds > self.before.fds:
                out.append(f"fds {self.before.fds} -> {self.after.fds}")
            if self.after.tasks > self.before.tasks:
                out.append(f"asyncio tasks {self.before.tasks} -> {self.after.tasks}")
            if self.after.rss_mb - self.before.rss_mb > RSS_BOUND_MB:
                out.append(f"RSS {self.before.rss_mb} -> {self.after.rss_mb} MB")
        if self.log_tracebacks:
            out.append(f"{self.log_tracebacks} tracebacks in the server log")
        return out


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def snapshot(server: WcsServer) -> Snapshot:
    status, _, body = await request("GET", f"{server.base}/metrics", timeout=10)
    found = re.search(rb"^wcs_asyncio_tasks (\S+)$", body, re.MULTILINE)
    if status != 200 or found is None:
        raise RuntimeError("/metrics has no wcs_asyncio_tasks")
    return Snapshot(fd_count(server.pid), rss_mb(server.pid), int(float(found.group(1))))


def rss_mb(pid: int) -> float:
    return round(rss_bytes(pid) / 2**20, 1)


async def call_status(server: WcsServer, call_id: str) -> str:
    status, body = await post_json(f"{server.base}/rest-api/call/find", {"callId": call_id}, 5)
    if status == 200 and isinstance(body, list) and body:
        return str(body[0].get("status", ""))
    return f"HTTP {status}"


async def wait_for(what: str, check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def probe_loop(server: WcsServer, call_id: str, probe: Probe) -> None:
    while True:
        t0 = time.monotonic()
        probe.sent += 1
        try:
            status, _, _ = await request("GET", f"{server.base}/health", timeout=10)
            state = await call_status(server, call_id)
            if status != 200 or state != "ESTABLISHED":
                probe.failures.append(f"health {status}, call {state}")
        except (OSError, RuntimeError, TimeoutError) as exc:
            probe.failures.append(f"{type(exc).__name__}: {exc}")
        probe.worst_s = max(probe.worst_s, time.monotonic() - t0)
        await asyncio.sleep(PROBE_EVERY)


async def settle(server: WcsServer, before: Snapshot) -> Snapshot:
    """After the load: give closing connections and ending calls time, then measure."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        now = await snapshot(server)
        if (now.fds <= before.fds and now.tasks <= before.tasks) or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.5)


async def soak(
    count: int, seed: int, workdir: Path, pool_per_op: int, log_level: str = "WARNING"
) -> Report:
    report = Report(count, seed)
    t_start = time.monotonic()
    sink, sink_port = await start_busy_sink()
    server = await asyncio.to_thread(
        WcsServer, workdir / "wcs.log", media_ports=MEDIA_PORTS, demo_callee="true",
        record_dir=str(workdir / "records"), sounds_dir=str(workdir), log_level=log_level,
        # One client sends every request: with the per-address rate limit on, most of them
        # (and the probe) would get 429 before reaching a handler. The soak is about handlers;
        # the limit itself is tested in tests/unit/rest and tests/integration/test_limits.py.
        rest_rate_limit="0", max_calls_per_app_key="0",
        # Fuzzed WHEP/WHIP offers that parse hold a media port until ICE gives up: keep that
        # well inside SETTLE_S so what stays open after the settle is a leak, not a wait.
        webrtc_ice_timeout="5",
    )  # fmt: skip
    viewer: LightViewer | None = None
    probe_task: asyncio.Task[None] | None = None
    try:
        call_id = f"soak-live-{secrets.token_hex(4)}"
        stream = f"soak-live-{secrets.token_hex(4)}"
        live = {"callId": call_id, "callee": "demo", "toStream": stream}
        status, body = await post_json(f"{server.base}/rest-api/call/startup", live)
        if status != 200:
            raise RuntimeError(f"live call refused: {status} {body}")

        async def established() -> bool:
            return await call_status(server, call_id) == "ESTABLISHED"

        await wait_for("the live call", established)
        viewer = LightViewer(Certificate.generate(), verify_every=10)
        status, _, answer = await request("POST", f"{server.base}/whep/{stream}",
                                          viewer.offer().encode(), "application/sdp")  # fmt: skip
        if status != 201:
            raise RuntimeError(f"WHEP {status}: {answer[:200]!r}")
        viewer.set_remote(answer.decode())
        viewer.start()
        await asyncio.wait_for(viewer.connected.wait(), 20)
        if viewer.failed:
            raise RuntimeError(viewer.failed)
        v = viewer

        async def receiving() -> bool:
            return v.summary()["packets"] > 50

        await wait_for("the viewer's first packets", receiving)
        assert viewer.remote is not None
        ice_port = viewer.remote[1]
        report.before = await snapshot(server)
        probe = Probe()
        probe_task = asyncio.create_task(probe_loop(server, call_id, probe))

        rng = random.Random(seed)
        t0 = time.monotonic()
        sip = await fuzz_sip("127.0.0.1", server.sip_port, count, rng)
        report.sip = asdict(sip)
        report.phase_seconds["sip"] = round(time.monotonic() - t0, 1)
        report.rss_mb_after["sip"] = rss_mb(server.pid)

        status, _, raw = await request("GET", f"{server.base}/rest-api/openapi.json")
        doc = json.loads(raw)
        t0 = time.monotonic()
        pool = await asyncio.to_thread(pools, doc, pool_per_op, seed)
        report.phase_seconds["rest_generation"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        target = Target("127.0.0.1", server.http_port, sink_port, call_id, stream)
        rest = await fuzz_rest(target, count, pool, seed)
        report.rest = {
            "requests": rest.requests, "by_status": dict(sorted(rest.by_status.items())),
            "5xx": rest.count_5xx(), "server_errors": rest.server_errors,
            "no_answer": rest.no_answer, "hangs": rest.hangs,
            "created": dict(rest.created), "sink_invites": sink.invites,
        }  # fmt: skip

        report.phase_seconds["rest"] = round(time.monotonic() - t0, 1)
        report.rss_mb_after["rest"] = rss_mb(server.pid)
        t0 = time.monotonic()
        media_from = int(server.env["WCS_MEDIA_PORT_FROM"])
        ports = {
            p for p in bound_udp_ports(server.pid) if media_from <= p < media_from + MEDIA_PORTS
        }
        ports.add(ice_port)
        media = await fuzz_media("127.0.0.1", sorted(ports), count, rng)
        report.media = {"sent": dict(media.sent), "total": media.total, "ports": media.ports,
                        "ice_port": ice_port, "send_errors": media.send_errors}  # fmt: skip

        report.phase_seconds["media"] = round(time.monotonic() - t0, 1)
        report.rss_mb_after["media"] = rss_mb(server.pid)
        probe_task.cancel()
        report.probe = {"sent": probe.sent, "failures": probe.failures[:20],
                        "worst_seconds": round(probe.worst_s, 3)}  # fmt: skip
        report.after = await settle(server, report.before)
        report.call_status_at_end = await call_status(server, call_id)
        first = viewer.summary()["packets"]
        await asyncio.sleep(1.0)
        last = viewer.summary()
        report.viewer = {
            "packets": last["packets"], "receiving_at_end": last["packets"] > first,
            "srtp_verified": last["verified"], "srtp_verify_failed": last["verify_failed"],
            "ssrcs_seen": len(viewer.tracks),
        }  # fmt: skip
        await post_json(f"{server.base}/rest-api/call/terminate", {"callId": call_id})
    finally:
        if probe_task is not None:
            probe_task.cancel()
        if viewer is not None:
            viewer.close()
        report.crashed = server.proc.poll() is not None
        await asyncio.to_thread(server.stop)
        if sink.transport is not None:
            sink.transport.close()
        log = server.log.read_text(errors="replace")
        report.log_tracebacks = log.count("Traceback")
        if report.log_tracebacks:
            at = log.index("Traceback")
            report.log_excerpt = log[max(0, at - 300) : at + 2500]
        report.seconds = round(time.monotonic() - t_start, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"{QUICK} of each (the test's run)")
    ap.add_argument("--count", type=int, default=FULL, help="messages, requests and packets")
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--json", action="store_true", help="the whole report as JSON")
    ap.add_argument("--keep", type=Path, help="keep the server's log and records here")
    ap.add_argument("--log-level", default="WARNING", help="the server's log level")
    args = ap.parse_args(argv)
    count = QUICK if args.quick else args.count
    with tempfile.TemporaryDirectory(prefix="wcs-soak-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(
            soak(count, args.seed, workdir, pool_size(count), log_level=args.log_level)
        )
    print(json.dumps(asdict(report), indent=1) if args.json else summary(report))
    return 1 if report.findings() else 0


def pool_size(count: int) -> int:
    """Generated bodies per operation: enough variety, without hypothesis dominating."""
    return max(30, min(300, count // 300))


def summary(r: Report) -> str:
    b, a = r.before, r.after
    lines = [
        f"soak: {r.count} of each, seed {r.seed}, {r.seconds} s {r.phase_seconds}",
        f"  SIP   udp {r.sip.get('udp_sent')} tcp {r.sip.get('tcp_sent')} "
        f"({r.sip.get('tcp_connections')} connections), answers: udp "
        f"{r.sip.get('answers_udp')}, tcp {r.sip.get('answered_tcp_bytes')} bytes",
        f"  REST  {r.rest.get('requests')} requests, by status {r.rest.get('by_status')}, "
        f"5xx {r.rest.get('5xx')}, no answer {r.rest.get('no_answer')}, hangs "
        f"{r.rest.get('hangs')}, made and undone {r.rest.get('created')}, INVITEs at the sink "
        f"{r.rest.get('sink_invites')}",
        f"  media {r.media.get('total')} datagrams {r.media.get('sent')} at ports "
        f"{r.media.get('ports')} (viewer ICE {r.media.get('ice_port')})",
        f"  probe {r.probe.get('sent')} probes, {len(r.probe.get('failures', []))} failed, "
        f"worst {r.probe.get('worst_seconds')} s",
        f"  live call at end: {r.call_status_at_end}; viewer: {r.viewer}",
    ]
    if b and a:
        lines.append(
            f"  fds {b.fds} -> {a.fds}, RSS {b.rss_mb} -> {a.rss_mb} MB (after each phase: "
            f"{r.rss_mb_after}), asyncio tasks {b.tasks} -> {a.tasks}"
        )
    lines.append(f"  crashed: {r.crashed}, tracebacks in log: {r.log_tracebacks}")
    found = r.findings()
    lines.append("  findings: " + ("; ".join(found) if found else "none"))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
