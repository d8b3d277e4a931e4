"""Capture incoming-call dialogs as the callee sees them: conformance/traces/inbound/*.pcap.

    python3 -m tests.peers.make_inbound_traces OUTDIR

Kamailio, baresip callee 1002 and caller 1001 (audio only, PCMU), dumpcap on lo filtered
to the proxy's SIP port (so both legs of each dialog, no RTP). No project code is involved;
the replays (conformance/test_sip_replay_uas.py) put our UserAgent in the callee's place.

05-inbound-caller-bye.pcap  1001 dials 1002, which answers; the caller hangs up after 2 s
06-inbound-callee-bye.pcap  the same, the callee hangs up (BYE from the UAS side)
07-inbound-cancel.pcap      the callee rings and never answers; the caller gives up after
                            3 s: CANCEL, 200, 487, ACK
Needs root or CAP_NET_RAW for dumpcap.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from tests.peers.baresip import BaresipPorts, start_callee, start_caller
from tests.peers.capture import Capture
from tests.peers.kamailio import start_kamailio
from tests.peers.make_traces import capture_main
from tests.peers.procs import PeerError

NAMES = ("05-inbound-caller-bye.pcap", "06-inbound-callee-bye.pcap", "07-inbound-cancel.pcap")
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
    finally:
        kam.stop()


def main(argv: list[str]) -> int:
    return capture_main(argv, __doc__ or "", make_traces, NAMES)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
