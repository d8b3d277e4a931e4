"""Figure (4): call setups per second through Kamailio (registrar + proxy, digest auth).

The callee farm registers as user 1002; the server places M calls as 1001 (INVITE → 407 →
INVITE with credentials → Kamailio → farm → 200 → ACK) with ``concurrency`` REST startups
in flight. The rate is M divided by the time from the first startup request to the M-th ACK
at the farm; each call's setup time is its startup request → its ACK.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.callee_farm import CalleeFarm
from bench.procstat import Window
from bench.trace_feed import Feeder
from bench.wcs_proc import WcsServer


async def measure_setups(
    calls: int = 100, concurrency: int = 20, uvloop: bool = False
) -> dict[str, Any]:
    from tests.peers.kamailio import start_kamailio

    rundir = Path(tempfile.mkdtemp(prefix="wcs-bench-setup-"))
    kam = start_kamailio(rundir / "kamailio")
    server: WcsServer | None = None
    feeder = Feeder()  # not run: the setup figure needs no media from the callee
    farm = CalleeFarm(feeder)
    out: dict[str, Any] = {
        "target": "wcs server" + (" (uvloop)" if uvloop else " (asyncio)"),
        "calls": calls,
        "concurrency": concurrency,
    }
    try:
        await farm.start()
        status = await farm.register((kam.host, kam.port), "1002", kam.password("1002"), kam.realm)
        if status != 200:
            raise RuntimeError(f"farm REGISTER answered {status}")
        # one client sends every startup: the per-IP REST rate and per-appKey call limits off
        server = WcsServer(
            rundir / "wcs.log", media_ports=max(1000, 4 * calls + 200), uvloop=uvloop,
            rest_rate_limit="0", max_calls_per_app_key="0",
        )  # fmt: skip
        farm.want = calls
        sem = asyncio.Semaphore(concurrency)
        srv = server

        async def one(i: int) -> None:
            cid = f"s{i}"
            body = {
                "callId": cid,
                "callee": "1002",
                "toStream": cid,
                "hasAudio": "true",
                "hasVideo": "true",
                "sipLogin": "1001",
                "sipAuthenticationName": "1001",
                "sipPassword": kam.password("1001"),
                "sipDomain": kam.realm,
                "sipOutboundProxy": kam.host,
                "sipPort": str(kam.port),
                "sipRegisterRequired": "false",
            }
            async with sem:
                st, ans = await asyncio.to_thread(srv.rest, "call/startup", body)
                if st != 200:
                    raise RuntimeError(f"startup {st}: {ans}")

        win = Window(server.pid).start()
        t0 = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(calls)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(farm.established.wait(), 60)
        t1 = time.monotonic()
        win.stop()
        est = farm.stats.established
        setup = sorted(c.ack_at - c.invite_at for c in farm.calls.values() if c.ack_at)
        out.update(
            {
                "established": est,
                "elapsed_s": round(t1 - t0, 3),
                "setups_per_s": round(est / (t1 - t0), 1) if t1 > t0 else None,
                "server_cpu_pct": round(win.cpu_pct, 1),
                "server_cpu_ms_per_setup": round(win.cpu / est * 1000, 2) if est else None,
                "farm_invite_to_ack_p50_ms": round(setup[len(setup) // 2] * 1000, 1)
                if setup
                else None,
                "farm_invite_to_ack_max_ms": round(setup[-1] * 1000, 1) if setup else None,
            }
        )
    finally:
        if server is not None:
            server.stop()
        farm.close()
        kam.stop()
    return out
