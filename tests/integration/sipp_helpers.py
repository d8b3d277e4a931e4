"""What the tests with SIPp peers (issues 12 and 19) read off the server: /metrics samples,
its UDP sockets, the RTP it sent to SIPp (a loopback capture, parsed here by hand so the
evidence owes nothing to the code under test); the media port range a farm of calls needs."""

from __future__ import annotations

import os
import struct
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.integration.conftest import WcsProcess
from tests.peers.ports import free_port_range
from wcs.pcap.reader import PcapError, read_pcap


def media_ports(count: int) -> dict[str, int]:
    """Server settings with a media port range of ``count`` ports (the fixture's 100 are too
    few for a farm of calls)."""
    first = free_port_range(count, step=2)
    return {"media_port_from": first, "media_port_to": first + count - 1}


def metrics(server: WcsProcess) -> dict[str, float]:
    """Every sample of /metrics: ``name{labels}`` -> value."""
    with urllib.request.urlopen(f"{server.base}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def udp_sockets(pid: int) -> int:
    """UDP sockets the process holds open (its fds that are sockets in /proc/net/udp)."""
    inodes: set[str] = set()
    for name in ("udp", "udp6"):
        with open(f"/proc/{pid}/net/{name}") as f:
            inodes.update(line.split()[9] for line in f.readlines()[1:])
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            count += 1
    return count


@dataclass(frozen=True)
class Rtp:
    """One RTP packet as captured (RFC 3550 §5.1)."""

    pt: int
    marker: bool
    seq: int
    ts: int
    ssrc: int
    payload: bytes

    @property
    def event(self) -> tuple[int, bool, int] | None:
        """(event code, E bit, duration) if the payload has the shape of an RFC 4733 event
        (§2.3: 4 bytes); the caller decides by the payload type whether it is one."""
        if len(self.payload) != 4:
            return None
        code, flags, duration = struct.unpack("!BBH", self.payload)
        return code, bool(flags & 0x80), duration


def rtp_sent_to(path: Path, port: int) -> list[Rtp]:
    """Every RTP packet to UDP ``port`` in the capture, in capture order (PcapError while
    the last record is half written)."""
    out = []
    for p in read_pcap(path):
        data = p.payload
        if p.proto != "udp" or p.dst[1] != port or len(data) < 12 or data[0] >> 6 != 2:
            continue
        start = 12 + 4 * (data[0] & 0x0F)  # CSRCs
        if data[0] & 0x10 and len(data) >= start + 4:  # header extension
            start += 4 + 4 * struct.unpack("!H", data[start + 2 : start + 4])[0]
        end = len(data) - (data[-1] if data[0] & 0x20 else 0)  # padding
        seq, ts, ssrc = struct.unpack("!HII", data[2:12])
        out.append(Rtp(data[1] & 0x7F, bool(data[1] & 0x80), seq, ts, ssrc, data[start:end]))
    return out


def ended_events(path: Path, port: int, audio_pt: int) -> int:
    """Events (4-byte payloads on any payload type but the audio's ``audio_pt``) whose three
    end packets (E bit) are in the capture so far (dumpcap writes each packet as it comes)."""
    try:
        packets = rtp_sent_to(path, port)
    except PcapError:  # the last record half written
        return 0
    ends = Counter(
        (p.pt, ev[0], p.ts)
        for p in packets
        if p.pt != audio_pt and (ev := p.event) is not None and ev[1]
    )
    return sum(1 for n in ends.values() if n >= 3)
