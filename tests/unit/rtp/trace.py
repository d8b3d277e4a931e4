"""RTP and RTCP datagrams of the recorded baresip call (conformance/traces/02-call-av.pcap).

RTP flows between even ports 200xx, RTCP on the odd port above (no rtcp-mux in baresip).
"""

from __future__ import annotations

from pathlib import Path

from wcs.pcap import Packet, read_pcap

TRACE = Path(__file__).resolve().parents[3] / "conformance" / "traces" / "02-call-av.pcap"


def _media() -> list[Packet]:
    return [p for p in read_pcap(TRACE) if p.proto == "udp" and 20000 <= p.src[1] < 20200]


def rtp_packets() -> list[Packet]:
    return [p for p in _media() if p.src[1] % 2 == 0]


def rtcp_packets() -> list[Packet]:
    return [p for p in _media() if p.src[1] % 2 == 1]
