"""Figure (1) and the per-call half of (5): N concurrent A+V calls captured by one server.

The server calls N callees of the callee farm (another process, direct SIP, no registrar);
each callee sends the trace's H.264 + PCMU at real rate (~100 packets/s per call). Over a
window, the server's CPU and its own receive statistics (packets received / lost per
stream) give the CPU per call and the loss.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.procstat import Window, cpu_seconds, rss_bytes
from bench.targets import ROOT, place_call
from bench.wcs_proc import WcsServer


class FarmProcess:
    def __init__(self, extra: list[str] | None = None) -> None:
        argv = [sys.executable, "-m", "bench.callee_farm", "--port", "0", *(extra or [])]
        self.argv = argv
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("callee farm did not start")
        self.info = json.loads(line)
        self.port = int(self.info["sip_port"])
        self.pid = self.proc.pid

    def stop(self) -> dict[str, Any]:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate(timeout=5)
        lines = [ln for ln in (out or "").splitlines() if ln.startswith("{")]
        return json.loads(lines[-1]) if lines else {}


def _totals(streams: list[dict[str, Any]]) -> tuple[int, int, int]:
    live = [s for s in streams if s.get("status") == "PUBLISHING"]
    return (
        len(live),
        sum(int(s.get("packetsReceived") or 0) for s in live),
        sum(int(s.get("packetsLost") or 0) for s in live),
    )


async def measure_calls(
    calls: int,
    seconds: float = 10.0,
    warmup: float = 3.0,
    uvloop: bool = False,
    farm_uvloop: bool = True,
    pyspy: str | None = None,
) -> dict[str, Any]:
    rundir = Path(tempfile.mkdtemp(prefix="wcs-bench-calls-"))
    server = WcsServer(rundir / "wcs.log", media_ports=max(1000, 4 * calls + 200), uvloop=uvloop,
                       rest_rate_limit="0", max_calls_per_app_key="0")  # fmt: skip
    farm = FarmProcess(["--uvloop"] if farm_uvloop else [])
    out: dict[str, Any] = {
        "target": "wcs server" + (" (uvloop)" if uvloop else " (asyncio)"),
        "calls": calls,
    }
    try:
        rss0 = rss_bytes(server.pid)
        sem = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            async with sem:
                await place_call(server, farm.port, f"c{i}", wait=False)

        await asyncio.gather(*(one(i) for i in range(calls)))
        up = 0
        for _ in range(600):
            up, _, _ = _totals(await asyncio.to_thread(server.streams))
            if up >= calls:
                break
            await asyncio.sleep(0.1)
        out["published"] = up
        await asyncio.sleep(warmup)
        _, r0, l0 = _totals(await asyncio.to_thread(server.streams))
        spy = None
        if pyspy:
            spy = await asyncio.create_subprocess_exec(
                "py-spy",
                "record",
                "--pid",
                str(server.pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "250",
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                pyspy,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        win = Window(server.pid).start()
        f0 = cpu_seconds(farm.pid)
        await asyncio.sleep(seconds)
        win.stop()
        if spy is not None:
            await spy.wait()
        f1 = cpu_seconds(farm.pid)
        n, r1, l1 = _totals(await asyncio.to_thread(server.streams))
        rss1 = rss_bytes(server.pid)
        received, lost = r1 - r0, l1 - l0
        out.update(
            {
                "publishing_at_end": n,
                "window_s": round(win.seconds, 2),
                "received_packets": received,
                "lost_packets": lost,
                "loss_pct": round(100.0 * lost / (received + lost), 4) if received + lost else None,
                "received_pps": round(received / win.seconds, 1),
                "cpu_pct": round(win.cpu_pct, 1),
                "steal_pct": round(win.steal_pct, 1),
                "machine_busy_pct": round(win.machine_busy_pct, 1),
                "farm_cpu_pct": round(100 * (f1 - f0) / win.seconds, 1),
                "cpu_us_per_packet": round(win.cpu / received * 1e6, 2) if received else None,
                "rss_mb": round(rss1 / 2**20, 1),
                "rss_per_call_kb": round((rss1 - rss0) / 1024 / max(calls, 1), 1),
            }
        )
        if win.cpu > 0 and n:
            out["calls_per_core_at_this_load"] = int(n / (win.cpu / win.seconds))
    finally:
        server.stop()
        out["farm"] = farm.stop()
    return out
