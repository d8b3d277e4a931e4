"""Capture incoming-call dialogs as the callee sees them: conformance/traces/inbound/*.pcap.

    python3 -m tests.peers.make_inbound_traces OUTDIR

Kamailio, baresip callee 1002 and caller 1001 (audio only, PCMU), dumpcap on lo filtered
to the proxy's SIP port (so both legs of each dialog, no RTP). No project code is involved;
the replays (conformance/test_sip_replay_uas.py) put our UserAgent in the callee's place.

05-inbound-caller-bye.pcap  1001 dials 1002, which answers; the caller hangs up after 2 s
06-inbound-callee-bye.pcap  the same, the callee hangs up (BYE from the UAS side)
07-inbound-cancel.pcap      the callee rings and never answers; the caller gives up after
                            3 s: CANCEL, 200, 487, ACK

and the same three with our server as the callee (``python -m wcs serve``, registered as
1003 through ``POST /rest-api/sip/register``; ``/call/terminate`` for its BYE, ``answer:
ring`` for the ringing one): 08-wcs-caller-bye.pcap, 09-wcs-callee-bye.pcap,
10-wcs-cancel.pcap. The replays compare our live server's callee leg with baresip's.
Needs root or CAP_NET_RAW for dumpcap.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.wcs_proc import WcsServer
from tests.peers.baresip import BaresipPorts, Caller, CallResult, start_callee, start_caller
from tests.peers.capture import Capture
from tests.peers.kamailio import Kamailio, start_kamailio
from tests.peers.make_traces import capture_main
from tests.peers.procs import PeerError, wait_until

NAMES = ("05-inbound-caller-bye.pcap", "06-inbound-callee-bye.pcap", "07-inbound-cancel.pcap",
         "08-wcs-caller-bye.pcap", "09-wcs-callee-bye.pcap", "10-wcs-cancel.pcap")  # fmt: skip
AUDIO: dict[str, Any] = {"media": "audio", "audio_codecs": "PCMU/8000/1"}


def _capture(out: Path, work: Path, bpf: str, n: int, run: Callable[[], CallResult],
             ok: Callable[[CallResult], bool]) -> None:  # fmt: skip
    """Capture NAMES[n] while ``run`` places the call; PeerError unless ``ok``."""
    print(f"== {NAMES[n]}")
    cap = Capture(out / NAMES[n], bpf, work / f"dumpcap-{n}.log")
    try:
        res = run()
    finally:
        cap.stop()
    if not ok(res):
        raise PeerError(f"{NAMES[n]}: {res}")


def _answered_and_ended(res: CallResult) -> bool:
    return res.established and res.closed is not None


def _cancelled(res: CallResult) -> bool:
    return res.ringing and not res.established


def _callee_hangs_up(caller: Caller, target: str, hangup: Callable[[], object]) -> CallResult:
    pending = caller.call_in_background(target, hold_s=30)
    time.sleep(3.0)  # answered within ~20 ms; then 2 s or so of call
    hangup()
    return pending.result(30)


def make_traces(out: Path, work: Path) -> None:
    media = work / "media"
    kam = start_kamailio(work / "kamailio")
    try:
        callee_ports, caller_ports = BaresipPorts.pick(), BaresipPorts.pick()
        bpf = f"udp and port {kam.port}"
        print(f"proxy 127.0.0.1:{kam.port}; callee {callee_ports.sip}, caller {caller_ports.sip}")
        callee = start_callee(kam, work / "callee", media, ports=callee_ports, **AUDIO)
        caller = start_caller(kam, work / "caller", media, ports=caller_ports, **AUDIO)
        try:
            _capture(out, work, bpf, 0, lambda: caller.call("1002", hold_s=2),
                     _answered_and_ended)  # fmt: skip
            _capture(out, work, bpf, 1, lambda: _callee_hangs_up(caller, "1002", callee.hangup),
                     lambda r: r.established)  # fmt: skip
            callee.stop()
            callee = start_callee(kam, work / "callee-ring", media, mode="noanswer",
                                  ports=callee_ports, **AUDIO)  # fmt: skip
            _capture(out, work, bpf, 2, lambda: caller.call("1002", timeout_s=3), _cancelled)
        finally:
            callee.stop()
            caller.stop()
        _wcs_callee(out, work, kam, bpf)
    finally:
        kam.stop()


def _register(server: WcsServer, kam: Kamailio, **dispatch: Any) -> None:
    body = {"registrationId": "trace", "sipLogin": "1003", "sipPassword": kam.password("1003"),
            "sipDomain": kam.realm, "sipOutboundProxy": kam.host, "sipPort": kam.port,
            "hasVideo": False, **dispatch}  # fmt: skip
    status, answer = server.rest("sip/register", body)
    if status != 200:
        raise PeerError(f"sip/register: {status} {answer}")
    wait_until(lambda: kam.registered("1003"), 20, "the server's registration")


def _wcs_callee(out: Path, work: Path, kam: Kamailio, bpf: str) -> None:
    """08-10: our server registered as 1003 (answer auto, then ring) is the callee."""
    (work / "wcs").mkdir()
    server = WcsServer(work / "wcs" / "wcs.log", media_ports=100)
    caller = start_caller(kam, work / "caller-wcs", work / "media", **AUDIO)

    def no_calls() -> bool:
        return server.rest("call/find_all", {})[0] == 404

    def terminate() -> None:
        status, calls = server.rest("call/find_all", {})
        if status != 200:
            raise PeerError(f"no call at the server ({status})")
        server.rest("call/terminate", {"callId": calls[0]["callId"]})

    try:
        _register(server, kam)
        _capture(out, work, bpf, 3, lambda: caller.call("1003", hold_s=2), _answered_and_ended)
        wait_until(no_calls, 10, "the call's end at the server")
        _capture(out, work, bpf, 4, lambda: _callee_hangs_up(caller, "1003", terminate),
                 lambda r: r.established)  # fmt: skip
        server.rest("sip/unregister", {"registrationId": "trace"})
        wait_until(lambda: not kam.registered("1003"), 20, "the unregistration")
        _register(server, kam, answer="ring")
        _capture(out, work, bpf, 5, lambda: caller.call("1003", timeout_s=3), _cancelled)
    finally:
        caller.stop()
        server.stop()


def main(argv: list[str]) -> int:
    return capture_main(argv, __doc__ or "", make_traces, NAMES)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
