"""Free ports chosen at run time.

Ports are picked at random below the kernel's ephemeral range, so the kernel never
hands them to some other socket's automatic bind, and are checked by binding them on
both UDP and TCP (SIP peers listen on both). A port handed out is not handed out again
for ``_HOLD_S`` seconds, so two peers started back to back cannot get the same one; after
that it is free to be picked again (a long test session would otherwise run out of ports).
"""

from __future__ import annotations

import random
import socket
import threading
import time

_LOW = 10000
# Ports the shared test bed and common services use: never hand these out.
_AVOID = (range(5060, 5100), range(20000, 20300), range(1935, 1936), range(8080, 8082))
_HOLD_S = 120.0
_given: dict[int, float] = {}  # port -> when it was handed out
_cursor: int | None = None
_lock = threading.Lock()


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int, host: str) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind)
        try:
            if kind == socket.SOCK_STREAM:
                # same option the servers use, so TIME_WAIT leftovers do not count as busy
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port_range(count: int, host: str = "127.0.0.1", step: int = 1) -> int:
    """First port of ``count`` consecutive ports, each free on UDP and TCP.

    ``step`` aligns the first port (2 = even, as RTP wants). Next fit from a cursor that
    starts at a random place: ports go out in ascending runs, so single ports never fragment
    the space that later ranges need (random picks did, and long sessions ran out).
    """
    global _cursor
    high = _ephemeral_low() - count
    if high <= _LOW:
        raise RuntimeError("ephemeral port range leaves no room for test ports")
    with _lock:
        now = time.monotonic()
        for port in [p for p, t in _given.items() if now - t > _HOLD_S]:
            del _given[port]
        if _cursor is None:
            _cursor = random.SystemRandom().randrange(_LOW, high)
        base = _cursor
        for _ in range(2):  # up to the top, then once more from the bottom
            while base <= high:
                base += (-base) % step
                ports = range(base, base + count)
                bad = next(
                    (p for p in ports
                     if p in _given or any(p in r for r in _AVOID) or not _bindable(p, host)),
                    None,
                )  # fmt: skip
                if bad is None:
                    _given.update(dict.fromkeys(ports, now))
                    _cursor = base + count
                    return base
                base = bad + 1
            base = _LOW
    raise RuntimeError(f"no {count} consecutive free ports found on {host}")


def free_port(host: str = "127.0.0.1") -> int:
    """One port free on both UDP and TCP."""
    return free_port_range(1, host)


def free_udp_port_pair(host: str = "127.0.0.1") -> tuple[int, int]:
    """Two consecutive ports (even first), free on UDP and TCP: RTP+RTCP, or SIP+TLS."""
    base = free_port_range(2, host, step=2)
    return base, base + 1
