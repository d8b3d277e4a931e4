"""SIPp callers through Kamailio to a server registered as 1003 (the incoming-call tests of
issues 12 and 19): start a scenario, read what the server's REST and /metrics say."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path
from typing import Any

from tests.integration.conftest import WcsProcess
from tests.peers.ports import free_port_range
from tests.peers.rtp_pcap import RtpPacket
from tests.peers.sipp import SippRun, start_sipp


def media_ports(count: int) -> dict[str, int]:
    """Server settings with a media port range of ``count`` ports (the fixture's 100 are too
    few for a farm of calls)."""
    first = free_port_range(count, step=2)
    return {"media_port_from": first, "media_port_to": first + count - 1}


def sipp_caller(
    rundir: Path,
    kamailio: Any,
    scenario: str,
    *,
    pcap: list[RtpPacket],
    calls: int = 1,
    rate: float = 10.0,
    hold_ms: int = 3000,
    te_pt: int = 101,
    **more: Any,
) -> SippRun:
    """SIPp as 1001 dialling 1003 through ``kamailio`` (digest auth answered)."""
    return start_sipp(
        rundir,
        scenario,
        kamailio.host,
        kamailio.port,
        service="1003",
        calls=calls,
        rate=rate,
        hold_ms=hold_ms,
        pcap=pcap,
        keys={"from": "1001", "domain": kamailio.realm, "te_pt": str(te_pt)},
        auth=("1001", kamailio.password("1001")),
        **more,
    )


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
    inodes = set()
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
