"""Re-create the reference captures in conformance/traces/ with the project's own peers.

    python3 -m tests.peers.make_traces OUTDIR      (conformance/capture-traces.sh runs it)

01-register.pcap  baresip 1002 REGISTER -> 401 -> REGISTER(auth) -> 200, then 1099 with
                  a wrong password -> 401 -> 403
02-call-av.pcap   baresip 1001 -> Kamailio -> baresip 1002: INVITE/407/ACK, INVITE/100/
                  180/200/ACK, 3 s of PCMU + H.264 both ways, BYE/200
03-call-busy.pcap 1001 -> 1002 in busy mode: 407, 100, 180, 486, ACK

Every port is picked at run time before the captures start, so the capture filter
covers exactly the proxy's SIP port and the two RTP port ranges of the call.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.peers.baresip import BaresipPorts, start_callee, start_caller
from tests.peers.capture import Capture
from tests.peers.kamailio import start_kamailio
from tests.peers.procs import PeerError


def make_traces(out: Path, work: Path) -> None:
    media = work / "media"
    kam = start_kamailio(work / "kamailio")
    try:
        callee_ports = BaresipPorts.pick()
        caller_ports = BaresipPorts.pick()
        bpf = (
            f"udp and (port {kam.port}"
            f" or portrange {callee_ports.rtp_low}-{callee_ports.rtp_high}"
            f" or portrange {caller_ports.rtp_low}-{caller_ports.rtp_high})"
        )
        print(
            f"proxy 127.0.0.1:{kam.port}; callee SIP {callee_ports.sip}, caller SIP "
            f"{caller_ports.sip}; filter: {bpf}"
        )

        print("== 01-register")
        cap = Capture(out / "01-register.pcap", bpf, work / "dumpcap-01.log")
        callee = start_callee(kam, work / "callee-1002", media, ports=callee_ports)
        try:
            start_callee(kam, work / "callee-1099", media, user="1099", media="audio")
        except PeerError as exc:
            if "403" not in str(exc):
                raise
            print("1099: 403 as expected")
        else:
            raise PeerError("1099 registered although its password is wrong")
        cap.stop()

        print("== 02-call-av")
        cap = Capture(out / "02-call-av.pcap", bpf, work / "dumpcap-02.log")
        caller = start_caller(kam, work / "caller-1001", media, ports=caller_ports)
        res = caller.call("1002", hold_s=3)
        caller.stop()
        cap.stop()
        callee.stop()
        if not res.established:
            raise PeerError(f"the call was not established: {res}")
        print(f"call: {res.closed}, rtp {res.rtp}")

        print("== 03-call-busy")
        busy = start_callee(kam, work / "callee-1002-busy", media, mode="busy", ports=callee_ports)
        cap = Capture(out / "03-call-busy.pcap", bpf, work / "dumpcap-03.log")
        caller = start_caller(kam, work / "caller-1001-busy", media, ports=caller_ports)
        res = caller.call("1002", timeout_s=15)
        caller.stop()
        cap.stop()
        busy.stop()
        if res.status != 486:
            raise PeerError(f"busy call ended with {res.closed!r}, not 486")
        print(f"busy call: {res.closed}")
    finally:
        kam.stop()


NAMES = ("01-register.pcap", "02-call-av.pcap", "03-call-busy.pcap")


def capture_main(
    argv: list[str], doc: str, make: Callable[[Path, Path], None], names: Sequence[str]
) -> int:
    """``OUTDIR`` from argv; ``make(out, workdir)``; the files' sizes (the scripts' main)."""
    if len(argv) != 1:
        print(doc, file=sys.stderr)
        return 2
    out = Path(argv[0]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="wcs-traces-"))
    try:
        make(out, work)
    except PeerError as exc:
        print(f"{exc}\n(run files kept in {work})", file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    for name in names:
        print(f"{out / name}: {(out / name).stat().st_size} bytes")
    return 0


def main(argv: list[str]) -> int:
    return capture_main(argv, __doc__ or "", make_traces, NAMES)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
