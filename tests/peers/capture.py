"""Loopback packet capture with dumpcap (from tshark), limited by a BPF filter."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.peers.procs import PeerError, PeerProcess, require_binary, tail, wait_until


class Capture:
    """dumpcap writing classic pcap from ``lo``; ``stop()`` flushes and ends it."""

    def __init__(self, out: Path, bpf: str, log_path: Path) -> None:
        require_binary("dumpcap", "tshark")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.unlink(missing_ok=True)
        self.out = out
        self.bpf = bpf
        # -P classic pcap (Ethernet link type on lo), -q no packet counter
        self.process = PeerProcess(
            "dumpcap", ["dumpcap", "-q", "-P", "-i", "lo", "-f", bpf, "-w", str(out)], log_path
        )
        try:
            wait_until(
                lambda: "Capturing on" in self.process.log_text(),
                10.0,
                "dumpcap start",
                alive=self.process.alive,
            )
        except PeerError as exc:
            self.process.stop(grace=3)
            raise PeerError(f"{exc}: {tail(log_path, 5)}") from None
        time.sleep(0.2)  # the kernel filter is attached a moment after the message

    def stop(self) -> Path:
        time.sleep(0.3)  # let the last packets of the exchange land in the file
        self.process.stop(grace=5, sig=signal.SIGINT)
        self.out.chmod(0o644)
        return self.out
