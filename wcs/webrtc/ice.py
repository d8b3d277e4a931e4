"""ICE for a viewer: aioice as the controlled agent, on a socket we bind in the media range.

Everything that reaches into aioice's internals is in this module, so a change of aioice
breaks one place. What we rely on (aioice 0.13):

* ``StunProtocol`` (subclassed here) and ``Connection._protocols`` /
  ``_local_candidates`` / ``_local_candidates_start`` / ``_local_candidates_end``: we hand
  aioice our own socket instead of letting ``gather_candidates`` bind port 0 everywhere.
* ``Connection._nominated[1]``: the selected pair, whose remote address the fast path uses
  and to which our consent checks go.
* ``Connection._query_consent_task``: aioice's own RFC 7675 checks, one task and one timer
  per connection, stopped once connected: the peer sends ours (:meth:`check_consent`) from
  its one timer, on the shared grid (:mod:`wcs.sansio.grid`), and
  ``StunProtocol.transactions`` routes their responses to us.

A browser's offer may hold no candidates; a WHIP/WHEP client may trickle them later
(``add_remote_candidates``, :mod:`wcs.webrtc.trickle`). Either way aioice also learns the
peer as a peer-reflexive candidate from its first check. We never signal
end-of-candidates, so ``connect()`` keeps waiting for that check instead of failing on an
empty check list; the caller bounds the wait (``Failed by ICE timeout``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import time
from collections.abc import Callable
from typing import Any

from aioice import Candidate, Connection, stun
from aioice.ice import StunProtocol, get_host_addresses

from wcs import netaddr

from .answer import LocalCandidate

HOST_PRIORITY = (126 << 24) | (65535 << 8) | 255
EARLY_PACKETS = 16  # DTLS/RTP arriving before our side sees the nomination
CONSENT_OUTSTANDING = 6  # unanswered consent checks whose late answer still counts


class IceBindError(OSError):
    pass


class _Protocol(StunProtocol):
    """Demultiplexes before aioice: only STUN (first byte 0-3, RFC 7983) goes to aioice."""

    def __init__(self, connection: Connection, owner: IceTransport) -> None:
        super().__init__(connection)
        self._owner = owner

    def datagram_received(self, data: bytes | str, addr: tuple[Any, ...]) -> None:
        owner = self._owner
        if not isinstance(data, bytes) or not data:
            return
        if owner.dual_stack:  # aioice and our fast path see IPv4 peers as IPv4
            addr = (netaddr.unmap(addr[0]), addr[1])
        if addr[0] == owner.remote_host and addr[1] == owner.remote_port:
            owner.last_rx = owner.clock()
            if data[0] > 3:
                owner.on_datagram(data)
                return
        elif data[0] > 3:
            owner.early(data, (addr[0], addr[1]))
            return
        super().datagram_received(data, addr)

    def send_stun(self, message: Any, addr: tuple[str, int]) -> None:
        if self._owner.dual_stack:
            addr = (netaddr.for_socket(addr[0], True), addr[1])
        super().send_stun(message, addr)

    async def send_data(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._owner.dual_stack:
            addr = (netaddr.for_socket(addr[0], True), addr[1])
        await super().send_data(data, addr)


class IceTransport:
    """One UDP socket, the controlled ICE agent on it, and a direct send path.

    ``on_datagram`` gets every non-STUN datagram from the selected remote address (DTLS,
    SRTP, SRTCP); it runs in the event loop's datagram callback, so it must not block.
    """

    def __init__(
        self,
        on_datagram: Callable[[bytes], None],
        *,
        bind_ip: str = "0.0.0.0",
        public_ip: str = "",
        port_range: tuple[int, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.on_datagram = on_datagram
        self.clock = clock
        self.bind_ip = bind_ip
        self.dual_stack = netaddr.is_dual_stack(bind_ip)
        self.public_ip = public_ip
        self.port_range = port_range
        self.connection = Connection(ice_controlling=False, use_ipv6=False)
        self.remote_host = ""
        self.remote_port = -1
        self.last_rx = clock()
        # The last authenticated answer to our consent checks (the nomination counts).
        self.consent_at = self.last_rx
        self._consent_ids: list[bytes] = []  # our checks not answered yet, oldest first
        self.local_candidates: list[LocalCandidate] = []
        self._transport: asyncio.DatagramTransport | None = None
        self._sock: socket.socket | None = None
        self._early: list[tuple[bytes, tuple[str, int]]] = []
        # The fast path: the connected socket's send, set once the pair is nominated; one
        # call and one syscall per packet. Callers may pass a view of a buffer they reuse
        # (the SRTP sealer's): whatever replaces this must not keep ``data``.
        self.send: Callable[[bytes | memoryview], object] = _not_connected

    @property
    def local_ufrag(self) -> str:
        return self.connection.local_username

    @property
    def local_pwd(self) -> str:
        return self.connection.local_password

    @property
    def port(self) -> int:
        return self.local_candidates[0].port if self.local_candidates else 0

    async def bind(self) -> list[LocalCandidate]:
        """Bind the socket (in ``port_range`` when given) and hand it to aioice."""
        sock = _bind_udp(self.bind_ip, self.port_range)
        port = sock.getsockname()[1]
        ips = self._advertised_ips()
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Protocol(self.connection, self), sock=sock
        )
        self._transport = transport
        self._sock = sock
        cands = [
            LocalCandidate(f"{i + 1}", ip, port, HOST_PRIORITY - i * 256)
            for i, ip in enumerate(ips)
        ]
        protocol.local_candidate = Candidate(
            foundation=cands[0].foundation,
            component=1,
            transport="udp",
            priority=cands[0].priority,
            host=cands[0].ip,
            port=port,
            type="host",
        )
        conn: Any = self.connection
        conn._protocols.append(protocol)
        conn._local_candidates.append(protocol.local_candidate)
        conn._local_candidates_start = True
        conn._local_candidates_end = True
        self.local_candidates = cands
        return cands

    def _advertised_ips(self) -> list[str]:
        if self.bind_ip in ("0.0.0.0", "", "::"):
            ips = get_host_addresses(use_ipv4=True, use_ipv6=self.dual_stack) or ["127.0.0.1"]
        else:
            ips = [self.bind_ip]
        if self.public_ip and self.public_ip not in ips:
            ips.append(self.public_ip)
        return ips

    async def connect(self, remote_ufrag: str, remote_pwd: str, candidates: list[str]) -> None:
        """Answer checks until the browser nominates a pair; raises ConnectionError."""
        conn = self.connection
        conn.remote_username = remote_ufrag
        conn.remote_password = remote_pwd
        await self.add_remote_candidates(candidates)
        await conn.connect()
        aioice_consent: Any = getattr(conn, "_query_consent_task", None)
        if aioice_consent is not None:  # ours instead (check_consent), on the peer's timer
            aioice_consent.cancel()
            conn._query_consent_task = None
        nominated: Any = getattr(conn, "_nominated", {}).get(1)
        if nominated is None or self._transport is None:
            raise ConnectionError("no nominated pair")
        host, port = nominated.remote_addr
        self.select_remote(host, port)
        addr = (host, port)
        early, self._early = self._early, []
        for data, src in early:
            if src == addr:
                self.on_datagram(data)

    async def add_remote_candidates(self, candidates: list[str]) -> int:
        """Hand the peer's candidates (SDP ``candidate`` values) to aioice, also while
        connecting (trickle); returns how many it took (component 1, UDP, parseable).

        mDNS names (a browser hiding its address) are not resolved: aioice would wait for
        the answer here (holding a WHIP PATCH), and the browser's own checks tell us its
        address anyway (peer-reflexive)."""
        taken = 0
        for line in candidates:
            try:
                cand = Candidate.from_sdp(line)
            except (ValueError, IndexError):
                continue
            if cand.host.endswith(".local"):
                continue
            if cand.component == 1 and cand.transport.lower() == "udp":
                await self.connection.add_remote_candidate(cand)
                taken += 1
        return taken

    @property
    def remote_candidates(self) -> list[tuple[str, int]]:
        """The addresses aioice knows for the peer (signalled or trickled)."""
        return [(c.host, c.port) for c in self.connection.remote_candidates]

    def select_remote(self, host: str, port: int) -> None:
        """Install the fast send path to the selected pair's remote address."""
        if self._transport is None or self._sock is None:
            raise ConnectionError("not bound")
        self.remote_host, self.remote_port = host, port
        self.last_rx = self.consent_at = self.clock()

        # The socket itself, not the asyncio transport: no buffering behind a full kernel
        # buffer (a late media packet is worthless; BlockingIOError is an OSError the
        # caller counts as a drop). Connected to the selected pair, so each send needs no
        # address parsing or route lookup (measured in bench/RESULTS.md); STUN from the
        # same address still arrives, and sendto() to other addresses still works.
        self._sock.connect((netaddr.for_socket(host, self.dual_stack), port))
        self.send = self._sock.send

    def check_consent(self) -> None:
        """Send one RFC 7675 consent check (a Binding request, no retransmission) on the
        selected pair; its authenticated response moves ``consent_at``. A late answer still
        counts while the check is among the last :data:`CONSENT_OUTSTANDING`."""
        conn: Any = self.connection
        pair = getattr(conn, "_nominated", {}).get(1)
        if pair is None or conn.remote_password is None:
            return
        key = conn.remote_password.encode("utf8")
        request = conn.build_request(pair, nominate=False)
        request.add_message_integrity(key)
        tid = request.transaction_id
        transactions = pair.protocol.transactions
        transactions[tid] = _ConsentCheck(self, key, pair.remote_addr)
        self._consent_ids.append(tid)
        if len(self._consent_ids) > CONSENT_OUTSTANDING:
            transactions.pop(self._consent_ids.pop(0), None)
        pair.protocol.send_stun(request, pair.remote_addr)

    def _consented(self) -> None:
        self.consent_at = self.clock()
        conn: Any = self.connection
        pair = getattr(conn, "_nominated", {}).get(1)
        for tid in self._consent_ids:  # one answer renews consent: forget the others
            if pair is not None:
                pair.protocol.transactions.pop(tid, None)
        self._consent_ids.clear()

    def early(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.remote_host and len(self._early) < EARLY_PACKETS:
            self._early.append((data, addr))

    async def close(self) -> None:
        self.send = _not_connected
        await self.connection.close()


class _ConsentCheck:
    """Where aioice's protocol hands the response to one of our consent checks."""

    def __init__(self, owner: IceTransport, key: bytes, addr: tuple[str, int]) -> None:
        self.owner = owner
        self.key = key
        self.addr = addr

    def response_received(self, message: Any, addr: tuple[str, int]) -> None:
        # Only a success response from the pair's address, signed with the remote password
        # (RFC 7675 5.1), renews consent; an error response or a forgery changes nothing.
        if (
            message.message_class == stun.Class.RESPONSE
            and (addr[0], addr[1]) == (self.addr[0], self.addr[1])
            and message.check_message_integrity(self.key)
        ):
            self.owner._consented()


def _not_connected(data: bytes | memoryview) -> None:
    raise ConnectionError("ICE is not connected")


def _bind_udp(bind_ip: str, port_range: tuple[int, int] | None) -> socket.socket:
    host = bind_ip or "0.0.0.0"
    ipaddress.ip_address(host)  # a clear ValueError for a bad setting
    if port_range is None:
        ports = [0]
    else:
        low, high = port_range
        # Even ports only, like WCS's media range (odd ones were for RTCP before rtcp-mux).
        ports = list(range(low + (low & 1), high + 1, 2))
        random.shuffle(ports)
    for port in ports:
        sock = netaddr.udp_socket(host)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            continue
        sock.setblocking(False)
        return sock
    raise IceBindError(f"no free UDP port in {port_range} on {host}")
