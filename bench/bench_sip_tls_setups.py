"""Call setups through Kamailio: plain (UDP, RTP) against secure (TLS, SDES-SRTP).

Starts a throw-away CA, Kamailio with its tls module, one baresip callee (``mediaenc=srtp``:
it answers plain and SDES offers alike) and a wcs server. Calls run one after another
(audio only): /call/startup until ESTABLISHED (polled on /call/find), then terminate.
Prints setups per second and the median and max time to ESTABLISHED for each mode.

Then the CPU of concurrent calls: ``concurrent`` audio calls (PCMA, 50 packets/s each way)
held for ``window`` seconds, plain RTP over UDP and SDES-SRTP over TLS (in the order plain,
SDES, SDES, plain); the server's CPU
over the window gives the CPU per call and calls per core (100 % = one core).

Run: PYTHONPATH=. python bench/bench_sip_tls_setups.py [calls] [concurrent] [window]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from bench.procstat import cpu_seconds
from bench.wcs_proc import WcsServer
from tests.peers.baresip import start_callee
from tests.peers.kamailio import Kamailio, start_kamailio
from tests.peers.tls_ca import TestCa


def body(kam: Kamailio, i: int, tls: bool) -> dict[str, Any]:
    port = kam.tls_port if tls else kam.port
    return {
        "callId": f"b{i}", "callee": "1002", "hasAudio": "true", "hasVideo": "false",
        "sipLogin": "1001", "sipPassword": "secret1001", "sipDomain": kam.realm,
        "sipOutboundProxy": kam.host, "sipPort": str(port),
        "sipTransport": "TLS" if tls else "UDP",
    }  # fmt: skip


def wait_status(server: WcsServer, call_id: str, want: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, found = server.rest("call/find", {"callId": call_id})
        if want == "gone" and status == 404:
            return
        if status == 200 and found[0]["status"] == want:
            return
        if status == 200 and found[0]["status"] in ("FAILED", "BUSY"):
            raise RuntimeError(f"{call_id}: {found[0]}")
        time.sleep(0.005)
    raise RuntimeError(f"{call_id}: not {want}")


def run(server: WcsServer, kam: Kamailio, calls: int, tls: bool) -> None:
    setups: list[float] = []
    t0 = time.monotonic()
    for i in range(calls):
        start = time.monotonic()
        status, answer = server.rest("call/startup", body(kam, i + (10000 if tls else 0), tls))
        assert status == 200, answer
        cid = f"b{i + (10000 if tls else 0)}"
        wait_status(server, cid, "ESTABLISHED")
        setups.append(time.monotonic() - start)
        found = server.rest("call/find", {"callId": cid})[1][0]
        assert found["srtpProfile"] == ("AES_CM_128_HMAC_SHA1_80" if tls else None), found
        server.rest("call/terminate", {"callId": cid})
        wait_status(server, cid, "gone")
    elapsed = time.monotonic() - t0
    name = "TLS + SDES-SRTP" if tls else "UDP, plain RTP"
    print(
        f"{name:16s} {calls} calls in {elapsed:.2f} s: {calls / elapsed:.1f} setups+teardowns/s, "
        f"startup->ESTABLISHED median {statistics.median(setups) * 1000:.0f} ms, "
        f"max {max(setups) * 1000:.0f} ms"
    )


_held: list[bool] = []  # one call-id range per hold() run


def hold(server: WcsServer, kam: Kamailio, n: int, window: float, tls: bool) -> None:
    """``n`` concurrent calls; the server's CPU over ``window`` seconds once all are up."""
    base = (20000 if tls else 30000) + 1000 * (len(_held) + 1)
    _held.append(tls)
    ids = [f"b{base + i}" for i in range(n)]
    for i, cid in enumerate(ids):
        status, answer = server.rest("call/startup", body(kam, base + i, tls))
        assert status == 200, answer
        wait_status(server, cid, "ESTABLISHED")
    time.sleep(2)  # every call's media running
    for cid in ids:
        found = server.rest("call/find", {"callId": cid})[1][0]
        assert found["status"] == "ESTABLISHED", found
        assert found["srtpProfile"] == ("AES_CM_128_HMAC_SHA1_80" if tls else None), found
    c0, t0 = cpu_seconds(server.pid), time.monotonic()
    time.sleep(window)
    share = (cpu_seconds(server.pid) - c0) / (time.monotonic() - t0)
    for cid in ids:
        server.rest("call/terminate", {"callId": cid})
    for cid in ids:
        wait_status(server, cid, "gone")
    name = "TLS + SDES-SRTP" if tls else "UDP, plain RTP"
    per_call = share / n
    print(
        f"{name:16s} {n} concurrent audio calls: server {share * 100:.1f} % of a core, "
        f"{per_call * 100:.3f} % per call, {1 / per_call:.0f} calls/core "
        f"(load {os.getloadavg()[0]:.1f})"
    )


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    concurrent = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    window = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp:
        d = Path(tmp)
        ca = TestCa(d / "ca")
        cert = ca.issue("kamailio", ["sip.test", "localhost", "127.0.0.1"])
        kam = start_kamailio(d / "kamailio", tls=(cert.cert, cert.key))
        callee = start_callee(kam, d / "callee", d / "media", media="audio", mediaenc="srtp",
                              record=False)  # fmt: skip
        # the polling below is faster than the default REST rate limit allows
        server = WcsServer(d / "wcs.log", media_ports=200, sip_tls_ca_file=ca.pem,
                           rest_rate_limit="0")  # fmt: skip
        try:
            run(server, kam, calls, tls=False)
            run(server, kam, calls, tls=True)
            # A B B A: drift of the machine's load over the runs hits both alike
            for tls in (False, True, True, False) if concurrent else ():
                hold(server, kam, concurrent, window, tls=tls)
        finally:
            server.stop()
            callee.stop()
            kam.stop()


if __name__ == "__main__":
    main()
