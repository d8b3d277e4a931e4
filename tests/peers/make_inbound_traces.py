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
from pathlib import Path
from typing import Any

from tests.peers.baresip import BaresipPorts, start_callee, start_caller
from tests.peers.capture import Capture
from tests.peers.kamailio import Kamailio, start_kamailio
from tests.peers.make_traces import capture_main
from tests.peers.procs import PeerError, wait_until
from tests.peers.wcs_server import WcsServer

NAMES = ("05-inbound-caller-bye.pcap", "06-inbound-callee-bye.pcap", "07-inbound-cancel.pcap",
         "08-wcs-caller-bye.pcap", "09-wcs-callee-bye.pcap", "10-wcs-cancel.pcap")  # fmt: skip
AUDIO: dict[str, Any] = {"media": "audio", "audio_codecs": "PCMU/8000/1"}


def make_traces(out: Path, work: Path) -> None:
    media = work / "media"
    kam = start_kamailio(work / "kamailio")
    try:
        callee_ports, caller_ports = BaresipPorts.pick(), BaresipPorts.pick()
        bpf = f"udp and port {kam.port}"
        print(f"proxy 127.0.0.1:{kam.port}; callee {callee_ports.sip}, caller {caller_ports.sip}")
        callee = start_callee(kam, work / "callee", media, ports=callee_ports, **AUDIO)
        caller = start_caller(kam, work / "caller", media, ports=caller_ports, **AUDIO)

        print("== 05 caller hangs up")
        cap = Capture(out / NAMES[0], bpf, work / "dumpcap-05.log")
        res = caller.call("1002", hold_s=2)
        cap.stop()
        if not (res.established and res.closed is not None):
            raise PeerError(f"05: {res}")

        print("== 06 callee hangs up")
        cap = Capture(out / NAMES[1], bpf, work / "dumpcap-06.log")
        pending = caller.call_in_background("1002", hold_s=30)
        time.sleep(3.0)  # answered within ~20 ms; then 2 s or so of call
        callee.hangup()
        res = pending.result(30)
        cap.stop()
        if not res.established:
            raise PeerError(f"06: {res}")
        callee.stop()

        print("== 07 caller cancels while it rings")
        ringing = start_callee(kam, work / "callee-ring", media, mode="noanswer",
                               ports=callee_ports, **AUDIO)  # fmt: skip
        cap = Capture(out / NAMES[2], bpf, work / "dumpcap-07.log")
        res = caller.call("1002", timeout_s=3)
        cap.stop()
        ringing.stop()
        caller.stop()
        if res.established or not res.ringing:
            raise PeerError(f"07: {res}")
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
    server = WcsServer(work / "wcs")
    caller = start_caller(kam, work / "caller-wcs", work / "media", **AUDIO)
    try:
        _register(server, kam)
        print("== 08 our server answers, the caller hangs up")
        cap = Capture(out / NAMES[3], bpf, work / "dumpcap-08.log")
        res = caller.call("1003", hold_s=2)
        cap.stop()
        if not (res.established and res.closed is not None):
            raise PeerError(f"08: {res}")

        print("== 09 our server answers and hangs up (/call/terminate)")
        wait_until(lambda: server.rest("call/find_all")[0] == 404, 10, "08 gone")
        cap = Capture(out / NAMES[4], bpf, work / "dumpcap-09.log")
        pending = caller.call_in_background("1003", hold_s=30)
        time.sleep(3.0)
        status, calls = server.rest("call/find_all")
        if status != 200:
            raise PeerError(f"09: no call at the server ({status})")
        server.rest("call/terminate", {"callId": calls[0]["callId"]})
        res = pending.result(30)
        cap.stop()
        if not res.established:
            raise PeerError(f"09: {res}")

        print("== 10 our server rings (answer: ring), the caller cancels")
        server.rest("sip/unregister", {"registrationId": "trace"})
        wait_until(lambda: not kam.registered("1003"), 20, "the unregistration")
        _register(server, kam, answer="ring")
        cap = Capture(out / NAMES[5], bpf, work / "dumpcap-10.log")
        res = caller.call("1003", timeout_s=3)
        cap.stop()
        if res.established or not res.ringing:
            raise PeerError(f"10: {res}")
    finally:
        caller.stop()
        server.stop()


def main(argv: list[str]) -> int:
    return capture_main(argv, __doc__ or "", make_traces, NAMES)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
