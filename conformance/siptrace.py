"""SIP messages out of the reference captures (shared by the conformance tests)."""

from __future__ import annotations

import re
from pathlib import Path

from wcs.pcap import Packet, read_pcap

TRACES = Path(__file__).resolve().parent / "traces"

# The ports the testbed's SIP peers use (proxy, caller, callee, negative-case registrant).
SIP_PORTS = frozenset({5060, 5070, 5080, 5084})

# A request line or a status line at the very start of a datagram. Checked on the payload,
# not only the ports, so a stray SIP message on another port is not missed either.
_SIP_START = re.compile(rb"^(?:SIP/2\.0 \d{3}[ \r\n]|[A-Za-z!%*_+`'~.-]+ \S+ SIP/2\.0\r?\n)")


def is_sip(payload: bytes) -> bool:
    return _SIP_START.match(payload) is not None


def sip_packets(name: str) -> list[Packet]:
    """Every SIP datagram of traces/<name>, in capture order."""
    return [p for p in read_pcap(TRACES / name) if p.proto == "udp" and is_sip(p.payload)]


def trace_names() -> list[str]:
    return sorted(p.name for p in TRACES.glob("*.pcap"))
