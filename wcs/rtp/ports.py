"""Media port allocation over [media_port_from, media_port_to] (WCS: 31001-32000, even RTP).

Each allocation binds its UDP sockets right away: a port some other process holds fails the
bind and is skipped, and the bound socket is what the caller uses (no bind/close/rebind race).
The cursor moves on after each allocation so a just-released port is not handed out again at
once (late packets of the old call would land in the new one).
"""

from __future__ import annotations

import socket
from types import TracebackType

from wcs import netaddr

__all__ = ["MediaPorts", "PortAllocator", "PortsExhausted"]


class PortsExhausted(RuntimeError):
    """No free port (pair) left in the configured range."""


class MediaPorts:
    """An allocation: the RTP socket and, without rtcp-mux, the RTCP socket on port + 1.

    Owns its sockets: :meth:`release` (or leaving a ``with`` block) closes them and returns
    the ports to the allocator. Releasing twice is harmless.
    """

    __slots__ = ("_allocator", "rtcp_socket", "rtp_port", "rtp_socket")

    def __init__(
        self,
        allocator: PortAllocator,
        rtp_port: int,
        rtp_socket: socket.socket,
        rtcp_socket: socket.socket | None,
    ) -> None:
        self._allocator: PortAllocator | None = allocator
        self.rtp_port = rtp_port
        self.rtp_socket = rtp_socket
        self.rtcp_socket = rtcp_socket

    @property
    def rtcp_port(self) -> int:
        """Where RTCP arrives: port + 1, or the RTP port itself with rtcp-mux."""
        return self.rtp_port if self.rtcp_socket is None else self.rtp_port + 1

    @property
    def released(self) -> bool:
        return self._allocator is None

    def release(self) -> None:
        allocator, self._allocator = self._allocator, None
        if allocator is not None:
            allocator._free(self)

    def __enter__(self) -> MediaPorts:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "released" if self.released else "bound"
        return f"MediaPorts(rtp={self.rtp_port}, rtcp={self.rtcp_port}, {state})"


class PortAllocator:
    """Hands out even RTP ports (RTCP on +1) from a range, binding the sockets as it goes."""

    def __init__(self, port_from: int, port_to: int, host: str = "0.0.0.0") -> None:
        if not 0 < port_from <= port_to <= 65535:
            raise ValueError(f"bad media port range {port_from}-{port_to}")
        self.port_from = port_from
        self.port_to = port_to
        self.host = host
        self.dual_stack = netaddr.is_dual_stack(host)
        first = port_from + (port_from & 1)  # RTP ports are even (RFC 3550 §11)
        self._candidates = list(range(first, port_to + 1, 2))
        self._next = 0
        self._in_use: dict[int, MediaPorts] = {}

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    @property
    def capacity(self) -> int:
        """How many allocations the range holds (pairs need port + 1 inside the range)."""
        return len(self._candidates)

    def allocate_pair(self, rtcp_mux: bool = False) -> MediaPorts:
        """Bind an even RTP port and (unless rtcp_mux) port + 1; non-blocking UDP sockets."""
        count = len(self._candidates)
        for i in range(count):
            index = (self._next + i) % count
            port = self._candidates[index]
            if port in self._in_use or (not rtcp_mux and port + 1 > self.port_to):
                continue
            rtp = self._bind(port)
            if rtp is None:
                continue
            rtcp = None
            if not rtcp_mux:
                rtcp = self._bind(port + 1)
                if rtcp is None:
                    rtp.close()
                    continue
            self._next = (index + 1) % count
            ports = MediaPorts(self, port, rtp, rtcp)
            self._in_use[port] = ports
            return ports
        kind = "port" if rtcp_mux else "port pair"
        raise PortsExhausted(
            f"no free media {kind} in {self.port_from}-{self.port_to} on {self.host} "
            f"({len(self._in_use)} in use by us, the rest taken by other processes)"
        )

    def allocate_pairs(self, count: int, rtcp_mux: bool = False) -> list[MediaPorts]:
        """``count`` allocations, or none: a failure releases the ones already taken."""
        taken: list[MediaPorts] = []
        try:
            for _ in range(count):
                taken.append(self.allocate_pair(rtcp_mux))
        except BaseException:
            for ports in taken:
                ports.release()
            raise
        return taken

    def allocate(self, rtcp_mux: bool = False) -> MediaPorts:
        """Same as :meth:`allocate_pair`; reads better with ``with allocator.allocate():``."""
        return self.allocate_pair(rtcp_mux)

    def release(self, ports: MediaPorts) -> None:
        ports.release()

    def close(self) -> None:
        """Release everything still allocated (shutdown)."""
        for ports in list(self._in_use.values()):
            ports.release()

    def _free(self, ports: MediaPorts) -> None:
        if self._in_use.get(ports.rtp_port) is ports:
            del self._in_use[ports.rtp_port]
        ports.rtp_socket.close()
        if ports.rtcp_socket is not None:
            ports.rtcp_socket.close()

    def _bind(self, port: int) -> socket.socket | None:
        sock = netaddr.udp_socket(self.host)  # "::" takes IPv4 too (wcs.netaddr)
        try:
            sock.bind((self.host, port))
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        return sock
