"""Capture real baresip RFC 4733 DTMF: conformance/traces/dtmf/04-dtmf-*.pcap.

    python3 -m tests.peers.make_dtmf_trace OUTDIR [CODEC ...]     (default CODEC: pcmu)

For each codec (``pcmu``, ``opus``): Kamailio, baresip callee 1002 and caller 1001 (audio
only, that codec only), dumpcap on lo filtered to the proxy and both RTP port ranges. The
caller dials 1002; once established it sends the keys ``123#*`` with baresip's own
``sndcode`` command (ctrl_tcp), waits for its telephone-events to finish, and hangs up.
No project code is involved; needs root or CAP_NET_RAW for dumpcap.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.peers.baresip import BaresipPorts, start_callee, start_caller
from tests.peers.baresip_ctrl import Ctrl
from tests.peers.capture import Capture
from tests.peers.kamailio import Kamailio, start_kamailio
from tests.peers.procs import PeerError

KEYS = "123#*"
CODECS = {"pcmu": "PCMU/8000/1", "opus": "opus/48000/2"}


def _call_with_keys(host: str, ctrl_port: int, target: str) -> list[str]:
    """Dial, send KEYS once established, hang up after they are out; the call's events."""
    seen: list[str] = []
    with Ctrl(host, ctrl_port, 10.0) as c:
        c.send("dial", target)
        deadline = time.monotonic() + 20
        hangup_at: float | None = None
        while time.monotonic() < deadline:
            if hangup_at is not None and time.monotonic() >= hangup_at:
                c.send("hangup")
                hangup_at = None
                deadline = time.monotonic() + 5
            msg = c.recv(timeout=0.1)
            if msg is None or not msg.get("event"):
                continue
            kind = str(msg.get("type"))
            seen.append(kind)
            if kind == "CALL_ESTABLISHED":
                time.sleep(0.5)  # some audio first, as a person would
                c.send("sndcode", KEYS)
                hangup_at = time.monotonic() + 3.0
            elif kind == "CALL_CLOSED":
                break
    return seen


def _listen(host: str, port: int, stop: threading.Event, out: list[str]) -> None:
    """The callee's ctrl_tcp events while the call runs: CALL_DTMF_START carries each key."""
    with Ctrl(host, port, 10.0) as c:
        while not stop.is_set():
            msg = c.recv(timeout=0.1)
            if msg is not None and str(msg.get("type", "")).startswith("CALL_DTMF"):
                out.append(f"{msg.get('type')} {msg.get('param')!r}")


def capture(kam: Kamailio, out: Path, work: Path, codec: str) -> None:
    media = work / "media"
    callee_ports, caller_ports = BaresipPorts.pick(), BaresipPorts.pick()
    ranges = " or ".join(
        f"portrange {p.rtp_low}-{p.rtp_high}" for p in (callee_ports, caller_ports)
    )
    bpf = f"udp and (port {kam.port} or {ranges})"  # SIP via the proxy, both peers' RTP
    codecs = CODECS[codec]
    callee = start_callee(
        kam,
        work / f"callee-{codec}",
        media,
        media="audio",
        audio_codecs=codecs,
        ports=callee_ports,
    )
    caller = start_caller(
        kam,
        work / f"caller-{codec}",
        media,
        media="audio",
        audio_codecs=codecs,
        ports=caller_ports,
    )
    path = out / f"04-dtmf-{codec}.pcap"
    cap = Capture(path, bpf, work / f"dumpcap-{codec}.log")
    stop = threading.Event()
    received: list[str] = []
    listener = threading.Thread(
        target=_listen, args=(kam.host, callee_ports.ctrl, stop, received), daemon=True
    )
    listener.start()
    try:
        events = _call_with_keys(kam.host, caller_ports.ctrl, kam.uri("1002"))
    finally:
        stop.set()
        listener.join(5)
        cap.stop()
        caller.stop()
        callee.stop()
    if "CALL_ESTABLISHED" not in events:
        raise PeerError(f"{codec}: the call was not established: {events}")
    print(f"{codec}: {path} ({path.stat().st_size} bytes); the callee got: {received}")


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="wcs-dtmf-trace-"))
    kam = start_kamailio(work / "kamailio")
    try:
        for codec in argv[1:] or ["pcmu"]:
            capture(kam, out, work, codec)
    except PeerError as exc:
        print(f"make_dtmf_trace: {exc}\n(run files kept in {work})", file=sys.stderr)
        return 1
    finally:
        kam.stop()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
