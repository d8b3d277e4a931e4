"""What the incoming-call tests with SIPp callers (issues 12 and 19) read off the server:
/metrics samples, its UDP sockets; the media port range a farm of calls needs."""

from __future__ import annotations

import os
import urllib.request

from tests.integration.conftest import WcsProcess
from tests.peers.ports import free_port_range


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
