"""SIPp 3.6 (Debian ``sip-tester``) as a real SIP peer: a caller farm and a scripted caller
for what baresip cannot send (SIP INFO DTMF, telephone-event on a chosen payload type), and
a scripted callee for what baresip cannot answer (telephone-event/48000 on a chosen payload
type):

    run = start_sipp(rundir, "uac_pcap.xml", kamailio.host, kamailio.port, service="1003",
                     calls=50, rate=50, hold_ms=8000, pcap=packets,
                     keys={"from": "1001", "domain": "sip.test", "te_pt": "100"},
                     auth=("1001", "secret1001"))
    result = run.wait(60)
    assert result.exit_code == 0 and result.successful == 50

    run = start_sipp(rundir, "uas_answer.xml", "127.0.0.1", None, service="1002",
                     keys={"audio_pt": "0", "audio_codec": "PCMU/8000", ...})
    run.wait_listening(10)  # then call sip:1002@127.0.0.1:<run.sip_port>

Scenarios are the XML files in tests/peers/sipp/. Each run gets its own directory (the
scenario, ``call.pcap`` for ``play_pcap_audio``, the statistics CSV, the message trace and
SIPp's own log), free SIP and media ports, runs in the foreground as its own session and is
stopped by PID. ``play_pcap_audio`` sends through a raw socket: needs root or CAP_NET_RAW.
"""

from __future__ import annotations

import csv
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers.ports import free_port, free_port_range
from tests.peers.procs import (
    PeerError,
    PeerProcess,
    local_only,
    require_binary,
    tail,
    wait_until,
)
from tests.peers.rtp_pcap import RtpPacket, write_pcap

HERE = Path(__file__).resolve().parent / "sipp"
# SIPp's exit codes (sipp -h): 0 every call succeeded, 1 at least one failed, 97 internal
# exit command, 99 no call processed, 255/254 (-1/-2) fatal error / socket bind error.
EXIT_CODES = {0: "all calls successful", 1: "some call failed", 97: "internal exit",
              99: "no call processed", 255: "fatal error", 254: "socket bind error"}  # fmt: skip
_MESSAGE_SEP = re.compile(r"^-{10,} .*$", re.M)


@dataclass
class SippResult:
    exit_code: int
    stats: dict[str, str]  # the last row of -trace_stat (cumulative columns end in "(C)")
    # -trace_msg: every message logged, as ("sent" | "received", the message)
    messages: list[tuple[str, str]] = field(default_factory=list)
    log: str = ""

    def count(self, column: str) -> int:
        """A cumulative statistics column, e.g. ``count("SuccessfulCall")``."""
        return int(self.stats.get(f"{column}(C)", "0") or 0)

    @property
    def successful(self) -> int:
        return self.count("SuccessfulCall")

    @property
    def failed(self) -> int:
        return self.count("FailedCall")

    def sent(self, start: str) -> list[str]:
        """The messages SIPp sent whose first line starts with ``start`` (``"INFO"``)."""
        return [m for way, m in self.messages if way == "sent" and m.startswith(start)]

    def describe(self) -> str:
        meaning = EXIT_CODES.get(self.exit_code, "?")
        return f"sipp exit {self.exit_code} ({meaning}); stats {self.stats}; log:\n{self.log}"


class SippRun:
    """One started SIPp; :meth:`wait` collects its result, :meth:`stop` ends it by PID."""

    def __init__(
        self,
        rundir: Path,
        scenario: str,
        process: PeerProcess,
        media_port: int,
        address: tuple[str, int],
    ):
        self.rundir = rundir
        self.scenario = scenario
        self.process = process
        self.media_port = media_port
        self.address = address  # where its SIP socket listens (host, port)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self, timeout: float) -> SippResult:
        """Wait up to ``timeout`` s for SIPp to exit; PeerError (after stopping it) if not."""
        try:
            code = self.process.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise PeerError(
                f"sipp {self.scenario} still running after {timeout:.0f} s; "
                f"log:\n{tail(self.process.log_path)}"
            ) from None
        return self._result(code)

    def wait_listening(self, timeout: float) -> None:
        """Wait until its SIP port is bound (a callee must be up before it is called)."""
        wait_until(
            lambda: udp_bound(self.address[1]),
            timeout,
            f"sipp {self.scenario} listening on UDP {self.address[1]}",
            alive=self.process.alive,
        )

    def stop(self) -> int | None:
        # SIGUSR1 is SIPp's soft exit (no new calls, running ones finish); then TERM/KILL
        return self.process.stop(grace=10, sig=signal.SIGUSR1)

    def _result(self, code: int) -> SippResult:
        rows: list[dict[str, str]] = []
        stat = self.rundir / "stats.csv"
        if stat.exists():
            with stat.open(newline="") as f:
                rows = list(csv.DictReader(f, delimiter=";"))
        trace = self.rundir / "messages.log"
        messages: list[tuple[str, str]] = []
        if trace.exists():
            text = trace.read_text(errors="replace")
            for chunk in _MESSAGE_SEP.split(text):
                # "UDP message sent (559 bytes):" or "... received [422] bytes :", a blank line
                head, _, message = chunk.strip("\r\n").partition("\n")
                if message.strip():
                    way = "sent" if " sent " in head else "received"
                    messages.append((way, message.strip("\r\n")))
        return SippResult(code, rows[-1] if rows else {}, messages, tail(self.process.log_path))


def udp_bound(port: int) -> bool:
    """Some socket is bound to UDP ``port`` (IPv4 or IPv6), per /proc/net."""
    for name in ("udp", "udp6"):
        with open(f"/proc/net/{name}") as f:
            # "sl local_address ...": local_address is HEXADDR:HEXPORT
            ports = {int(line.split()[1].rsplit(":", 1)[1], 16) for line in f.readlines()[1:]}
        if port in ports:
            return True
    return False


def start_sipp(
    rundir: Path,
    scenario: str,
    host: str,
    port: int | None,
    *,
    service: str,
    calls: int = 1,
    rate: float = 10.0,
    limit: int | None = None,
    hold_ms: int = 3000,
    keys: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    pcap: Sequence[RtpPacket] | None = None,
    video: Sequence[RtpPacket] | None = None,
    files: Mapping[str, bytes] | None = None,
    transport: str = "u1",
    trace_msg: bool = True,
    timeout_s: int = 120,
    extra: Sequence[str] = (),
) -> SippRun:
    """Start ``scenario`` (a file of tests/peers/sipp/) against ``host:port`` (``port``
    None: a callee scenario, listening on ``host`` for the calls it answers): ``calls``
    calls at ``rate`` per second, at most ``limit`` (default ``calls``) at once, each
    pausing ``hold_ms`` where the scenario has ``<pause/>``. ``pcap``: the RTP written to
    ``call.pcap`` for ``play_pcap_audio``, ``video``: ``video.pcap`` for
    ``play_pcap_video``; ``files``: more files for the scenario (``rtp_stream`` audio).
    SIPp plays one pcap per call at a time. ``keys`` fill the scenario's ``[keyword]``s."""
    sipp = require_binary("sipp", "sip-tester")
    if not local_only(host):
        raise PeerError(f"refusing non-loopback address {host}")
    rundir.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / scenario, rundir / scenario)
    if pcap is not None:
        write_pcap(rundir / "call.pcap", pcap)
    if video is not None:
        write_pcap(rundir / "video.pcap", video)
    for name, data in (files or {}).items():
        (rundir / name).write_bytes(data)
    sip_port = free_port(host)
    # SIPp binds media and media+2 (video); rtp_stream takes pairs above them
    media_port = free_port_range(8 + 4 * calls, host, step=2)
    remote = [] if port is None else [f"{host}:{port}"]
    argv = [
        sipp, *remote, "-sf", scenario, "-s", service,
        "-i", host, "-p", str(sip_port), "-mi", host, "-mp", str(media_port),
        "-t", transport, "-m", str(calls), "-r", str(rate), "-rp", "1000",
        "-l", str(limit or calls), "-d", str(hold_ms), "-nostdin",
        "-timeout", f"{timeout_s}s", "-timeout_error", "-max_recv_loops", "10000",
        "-trace_stat", "-stf", "stats.csv", "-fd", "1",
        "-trace_err", "-error_file", "errors.log",
    ]  # fmt: skip
    if trace_msg:
        argv += ["-trace_msg", "-message_file", "messages.log"]
    if auth is not None:
        argv += ["-au", auth[0], "-ap", auth[1]]
    for name, value in (keys or {}).items():
        argv += ["-key", name, value]
    argv += list(extra)
    process = PeerProcess("sipp", argv, rundir / "sipp.log", cwd=rundir)
    return SippRun(rundir, scenario, process, media_port, (host, sip_port))
