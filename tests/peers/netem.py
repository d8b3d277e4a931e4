"""A lossy, jittery link between the host and a network namespace of its own, for the
loss-and-jitter tests (issue 18): peers run in the namespace, wcs on the host.

Why not ``tc netem``: this kernel has no netem qdisc (``tc qdisc add dev <veth> root netem
delay 50ms 20ms loss 5%`` answers ``Error: Specified qdisc kind is unknown.``; there are no
modules to load), and the shared ``lo`` must never get a qdisc anyway. So the link is made
in user space, with the same behaviour: two TUN devices, one on the host (``192.0.2.1``)
and one moved into the namespace (``192.0.2.2``, TEST-NET-1, only on these two devices), and
a thread that carries every IP packet from one to the other, dropping ``loss`` of them and
delaying the rest by ``delay`` ± ``jitter`` (uniform, so packets may be reordered, as netem
does). Each direction draws from its own ``random.Random`` seeded from ``seed``.

``stop()`` ends the thread, closes both TUN devices (they disappear with their fd) and
deletes the namespace; processes started in it must have been stopped before (by PID).
While the link exists, an ``unreachable`` route for the peer address (a higher metric than
the device's) makes sure nothing sent to it can take the default route out of the host.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import os
import random
import secrets
import select
import struct
import subprocess
import threading
import time
from dataclasses import dataclass

from tests.peers.procs import PeerError

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
HOST_IP = "203.0.113.1"
PEER_IP = "203.0.113.2"


@dataclass
class Direction:
    packets: int = 0
    dropped: int = 0
    bytes: int = 0


def _ip(*args: str) -> None:
    res = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if res.returncode != 0:
        raise PeerError(f"ip {' '.join(args)}: {res.stderr.strip()}")


def _open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


class ImpairedLink:
    def __init__(
        self, loss: float = 0.05, delay: float = 0.050, jitter: float = 0.020, seed: int = 18
    ) -> None:
        tag = secrets.token_hex(3)
        self.ns = f"wcs-netem-{tag}"
        self.host_dev = f"wcsh{tag}"
        self.peer_dev = f"wcsp{tag}"
        self.loss, self.delay, self.jitter = loss, delay, jitter
        self._rng = [random.Random(seed * 2), random.Random(seed * 2 + 1)]
        self.to_peer = Direction()  # host -> namespace
        self.to_host = Direction()  # namespace -> host
        self._fds: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ns_made = False
        self._route_made = False

    def argv(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace (``ip netns exec`` execs it: same PID)."""
        return ["ip", "netns", "exec", self.ns, *argv]

    def start(self) -> ImpairedLink:
        try:
            _ip("route", "add", "unreachable", PEER_IP, "metric", "4000")
            self._route_made = True
            _ip("netns", "add", self.ns)
            self._ns_made = True
            self._fds = [_open_tun(self.host_dev), _open_tun(self.peer_dev)]
            _ip("link", "set", self.peer_dev, "netns", self.ns)
            _ip("addr", "add", HOST_IP, "peer", PEER_IP, "dev", self.host_dev)
            _ip("link", "set", self.host_dev, "up")
            _ip("-n", self.ns, "link", "set", "lo", "up")
            _ip("-n", self.ns, "addr", "add", PEER_IP, "peer", HOST_IP, "dev", self.peer_dev)
            _ip("-n", self.ns, "link", "set", self.peer_dev, "up")
        except (OSError, PeerError):
            self.stop()
            raise
        self._thread = threading.Thread(target=self._run, name="netem", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        host_fd, peer_fd = self._fds
        queue: list[tuple[float, int, int, bytes]] = []
        n = 0
        while not self._stop.is_set():
            now = time.monotonic()
            wait = min(0.05, max(0.0, queue[0][0] - now)) if queue else 0.05
            readable, _, _ = select.select(self._fds, [], [], wait)
            for fd in readable:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    continue
                side = 0 if fd == host_fd else 1
                stats = self.to_peer if side == 0 else self.to_host
                stats.packets += 1
                stats.bytes += len(data)
                rng = self._rng[side]
                if rng.random() < self.loss:
                    stats.dropped += 1
                    continue
                due = time.monotonic() + self.delay + rng.uniform(-self.jitter, self.jitter)
                n += 1
                heapq.heappush(queue, (due, n, peer_fd if side == 0 else host_fd, data))
            now = time.monotonic()
            while queue and queue[0][0] <= now:
                _, _, out, data = heapq.heappop(queue)
                with contextlib.suppress(OSError):
                    os.write(out, data)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
        if self._ns_made:
            with contextlib.suppress(PeerError):
                _ip("netns", "del", self.ns)
            self._ns_made = False
        if self._route_made:
            with contextlib.suppress(PeerError):
                _ip("route", "del", "unreachable", PEER_IP, "metric", "4000")
            self._route_made = False
