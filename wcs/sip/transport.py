"""asyncio edge of the SIP user agent: one UDP socket and one TCP listener on the same port,
and (with a :class:`SipTlsConfig`) a TLS listener and TLS connections (RFC 3261 §26).

The UA's clock is `loop.time()`: pass `transport.now()` as `now` to the UA actions, then call
`wake()`. Outgoing TCP connections are opened on demand, reused per remote address (also for
requests the peer sends back over them), and closed after `idle_timeout` seconds unused.
Accepted connections are bounded by a :class:`~wcs.limits.Quota` (total and per source IP;
over it they are closed at once) and closed after `accepted_idle_timeout` seconds without
traffic unless a call's dialog is with that host. Host names are resolved here with
`loop.getaddrinfo` (cached for a minute). A TLS connection verifies the host name it was
asked for (not the address it resolved to); a failed handshake fails the requests waiting
for it with the reason, and nothing is sent by another transport. TLS connections we open
get a CRLF keep-alive every ``keepalive`` seconds (RFC 5626 §3.5.1).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable, Coroutine
from typing import Any, cast

from wcs import netaddr
from wcs.acceptor import Acceptor, Admission
from wcs.limits import Quota
from wcs.sansio import Pump

from .errors import SipParseError
from .events import Event
from .framer import StreamFramer
from .tls import SipTlsConfig, failure_reason
from .ua import UserAgent

log = logging.getLogger(__name__)

Addr = tuple[str, int]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, edge: SipTransport) -> None:
        self.edge = edge

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # a dual-stack socket names IPv4 peers ::ffff:a.b.c.d; the UA sees a.b.c.d
        self.edge._received(data, (netaddr.unmap(addr[0]), addr[1]), "udp")

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP UDP error: %s", exc)  # ICMP unreachable etc.: the transaction times out


class _Tcp(asyncio.Protocol):
    def __init__(
        self, edge: SipTransport, admission: Admission | None = None, transport: str = "tcp"
    ) -> None:
        self.edge = edge
        self.admission = admission  # None: a connection we opened
        self.name = transport  # "tcp" or "tls": what the UA is told it arrived over
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: Addr | None = None
        self.last_used = 0.0
        self.closed_by_us = False  # idle close or shutdown: not a lost flow

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # cast, not isinstance: uvloop's transports are not asyncio.Transport subclasses
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = (netaddr.unmap(peer[0]), peer[1])
        self.last_used = self.edge.now()
        self.edge._conns.setdefault(self.peer, self)
        self.edge._open.add(self)

    def data_received(self, data: bytes) -> None:
        self.last_used = self.edge.now()
        try:
            messages = self.framer.feed(data)
        except SipParseError as exc:
            messages = []
            self.framer.error = str(exc)
        assert self.peer is not None
        for message in messages:
            self.edge._received(message, self.peer, self.name)
        if self.framer.error is not None:
            # after answering what came before the garbage: nothing more can be framed
            log.debug("closing SIP TCP connection from %s: %s", self.peer, self.framer.error)
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.admission is not None:
            self.admission.release()
        self.edge._open.discard(self)
        if self.peer is not None and self.edge._conns.get(self.peer) is self:
            del self.edge._conns[self.peer]
        if self.admission is None and self.peer is not None and not self.closed_by_us:
            self.edge._lost(self.peer, self.name)  # a flow we opened (a registrar's, maybe)

    def keepalive(self) -> None:
        """RFC 5626 §3.5.1 CRLFs; not a use: the idle timer still runs."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"\r\n\r\n")

    def write(self, data: bytes) -> None:
        self.last_used = self.edge.now()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


class SipTransport:
    def __init__(
        self,
        ua: UserAgent,
        bind_ip: str,
        port: int,
        on_event: Callable[[Event], None],
        *,
        idle_timeout: float = 900.0,
        accepted_idle_timeout: float = 60.0,
        quota: Quota | None = None,
        tls: SipTlsConfig | None = None,
    ) -> None:
        self.ua = ua
        self.bind_ip = bind_ip
        self._dual_stack = netaddr.is_dual_stack(bind_ip)
        self._port = port
        self.on_event = on_event
        self.idle_timeout = idle_timeout
        self.accepted_idle_timeout = accepted_idle_timeout
        self.quota = quota or Quota("sip_tcp_connections", 0, 0)
        self._acceptor: Acceptor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._conns: dict[Addr, _Tcp] = {}
        self._open: set[_Tcp] = set()
        self._connecting: dict[Addr, list[bytes]] = {}
        self._dns: dict[str, tuple[float, str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pump: Pump[UserAgent] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._closed = False
        self.tls = tls
        self._client_ctx: ssl.SSLContext | None = None
        self._tls_acceptor: Acceptor | None = None
        if tls is not None:
            self._client_ctx = tls.client_context()

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._pump = Pump(self.ua, self._transmit, self._deliver, self._loop)
        last_error: OSError | None = None
        for _ in range(1 if self._port else 20):
            try:
                await self._bind(self._port)
                break
            except OSError as exc:  # port 0: UDP got a port whose TCP twin is taken; retry
                last_error = exc
                await self._unbind()
        else:
            raise OSError(f"cannot bind SIP UDP+TCP on {self.bind_ip}: {last_error}")
        self.ua.local_port = self._port
        self._idle = self._loop.call_later(self._idle_check_interval(), self._close_idle)
        log.info("SIP listening on %s (UDP+TCP)", netaddr.hostport(self.bind_ip, self._port))
        tls = self.tls
        if tls is not None and tls.server_cert:
            self._tls_acceptor = Acceptor(
                lambda admission: _Tcp(self, admission, "tls"),
                quota=self.quota,
                ssl_context=tls.server_context(),
            )
            port = await self._tls_acceptor.start(self.bind_ip, tls.listen_port)
            self.ua.tls_port = port
            log.info("SIP listening on %s (TLS)", netaddr.hostport(self.bind_ip, port))

    async def _bind(self, port: int) -> None:
        assert self._loop is not None
        sock = netaddr.udp_socket(self.bind_ip)
        try:
            sock.bind((self.bind_ip, port))
        except OSError:
            sock.close()
            raise
        udp, _ = await self._loop.create_datagram_endpoint(lambda: _Udp(self), sock=sock)
        self._udp = udp
        chosen = udp.get_extra_info("sockname")[1]
        self._acceptor = Acceptor(lambda admission: _Tcp(self, admission), quota=self.quota)
        await self._acceptor.start(self.bind_ip, chosen)
        self._port = chosen

    async def _unbind(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._acceptor is not None:
            self._acceptor.close()
            self._acceptor = None

    @property
    def port(self) -> int:
        return self._port

    def now(self) -> float:
        loop = self._loop or asyncio.get_event_loop()
        return loop.time()

    async def close(self) -> None:
        self._closed = True
        if self._pump is not None:
            self._pump.close()
        if self._idle is not None:
            self._idle.cancel()
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self._open):
            conn.closed_by_us = True
            if conn.transport is not None:
                conn.transport.close()
        self._conns.clear()
        if self._tls_acceptor is not None:
            self._tls_acceptor.close()
            self._tls_acceptor = None
        await self._unbind()

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Hang up and unregister everything, wait (at most `timeout`) until done, close."""
        self.ua.shutdown(self.now())
        self.wake()
        deadline = self.now() + timeout
        while self.ua.active() and self.now() < deadline:
            await asyncio.sleep(0.05)
        await self.close()

    # ---- the sans-IO pump ---------------------------------------------------------------

    def wake(self) -> None:
        """Flush datagrams, deliver events (in order), re-arm the timer."""
        if self._pump is not None:
            self._pump.wake()

    def _transmit(self, now: float) -> None:
        for data, (host, port, transport) in self.ua.datagrams_to_send(now):
            self._send(data, (host, port), transport)

    def _deliver(self, event: Event) -> None:
        self.on_event(event)  # looked up each time: the owner may replace its handler

    def _received(self, data: bytes, addr: Addr, transport: str) -> None:
        self.ua.receive(data, addr, transport, self.now())
        self.wake()

    # ---- sending ------------------------------------------------------------------------

    def _send(self, data: bytes, addr: Addr, transport: str) -> None:
        host, port = addr
        cached = self._dns.get(host)
        if _is_ip(host):
            self._send_ip(data, (host, port), transport, host)
        elif cached is not None and cached[0] > self.now():
            self._send_ip(data, (cached[1], port), transport, host)
        else:
            self._spawn(self._resolve_and_send(data, host, port, transport))

    async def _resolve_and_send(self, data: bytes, host: str, port: int, transport: str) -> None:
        assert self._loop is not None
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        try:
            infos = await self._loop.getaddrinfo(
                host, port, type=kind, family=netaddr.resolve_family(self.bind_ip)
            )
        except OSError as exc:
            log.warning("cannot resolve SIP host %s: %s", host, exc)
            self._failed((host, port), transport, f"Cannot resolve {host}")
            return
        if not infos:
            self._failed((host, port), transport, f"Cannot resolve {host}")
            return
        ip = netaddr.unmap(str(infos[0][4][0]))
        self._dns[host] = (self.now() + 60.0, ip)
        self._send_ip(data, (ip, port), transport, host)

    def _send_ip(self, data: bytes, addr: Addr, transport: str, name: str) -> None:
        """``name``: the host as dialled, which a TLS server certificate must match."""
        if transport == "udp":
            if self._udp is not None:
                self._udp.sendto(data, (netaddr.for_socket(addr[0], self._dual_stack), addr[1]))
            return
        conn = self._conns.get(addr)
        if conn is not None:
            conn.write(data)
            return
        pending = self._connecting.get(addr)
        if pending is not None:
            pending.append(data)
            return
        self._connecting[addr] = [data]
        self._spawn(self._connect(addr, transport, name))

    async def _connect(self, addr: Addr, transport: str, name: str) -> None:
        assert self._loop is not None
        tls = self.tls if transport == "tls" else None
        try:
            if transport == "tls" and (tls is None or self._client_ctx is None):
                raise ssl.SSLError("SIP over TLS is not configured")
            _, proto = await self._loop.create_connection(
                lambda: _Tcp(self, None, transport),
                addr[0],
                addr[1],
                ssl=self._client_ctx if tls is not None else None,
                server_hostname=name if tls is not None else None,
            )
            problem = None
            if tls is not None and proto.transport is not None:
                der = proto.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
                problem = tls.check_peer(der, name)
                if problem is not None:
                    proto.closed_by_us = True
                    proto.transport.abort()
        except (OSError, ssl.SSLError) as exc:
            problem = failure_reason(exc)
            log.warning("SIP %s connect to %s failed: %s", transport.upper(), addr, problem)
        if problem is not None:
            # the requests waiting for this connection fail now, with the reason
            self._connecting.pop(addr, None)
            self._failed(addr, transport, problem)
            for host, (_, ip) in list(self._dns.items()):  # requests addressed by name
                if ip == addr[0]:
                    self._failed((host, addr[1]), transport, problem)
            if name != addr[0]:
                self._failed((name, addr[1]), transport, problem)
            return
        self._conns[addr] = proto
        for data in self._connecting.pop(addr, []):
            proto.write(data)

    def _failed(self, addr: Addr, transport: str, reason: str) -> None:
        if self._closed:
            return
        self.ua.transport_error(addr, transport, reason, self.now())
        self.wake()

    def _lost(self, addr: Addr, transport: str) -> None:
        """A connection we opened closed without our asking: the UA re-registers what was
        registered over it (by address, and by every name we resolved to it)."""
        if self._closed:
            return
        now = self.now()
        self.ua.flow_lost(addr, transport, now)
        for host, (_, ip) in list(self._dns.items()):
            if ip == addr[0]:
                self.ua.flow_lost((host, addr[1]), transport, now)
        self.wake()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _idle_check_interval(self) -> float:
        keepalive = self.tls.keepalive if self.tls is not None else 0.0
        check = max(0.05, min(60.0, self.idle_timeout, self.accepted_idle_timeout) / 4)
        return min(check, keepalive) if keepalive > 0 else check

    def _close_idle(self) -> None:
        now = self.now()
        keepalive = self.tls.keepalive if self.tls is not None else 0.0
        in_dialog: set[str] | None = None
        for conn in list(self._open):
            if conn.transport is None:
                continue
            if conn.admission is None:
                idle = conn.last_used < now - self.idle_timeout
            else:
                idle = conn.last_used < now - self.accepted_idle_timeout
                if idle and conn.peer is not None:
                    if in_dialog is None:
                        in_dialog = {netaddr.unbracket(h) for h in self.ua.dialog_hosts()}
                    idle = conn.peer[0] not in in_dialog
            if idle:
                conn.closed_by_us = True
                conn.transport.close()
            elif keepalive > 0 and conn.admission is None and conn.name == "tls":
                conn.keepalive()
        if self._loop is not None and not self._closed:
            self._idle = self._loop.call_later(self._idle_check_interval(), self._close_idle)

    @property
    def connections(self) -> int:
        return len(self._conns)

    def __repr__(self) -> str:
        return f"SipTransport({self.bind_ip}:{self._port}, tcp_connections={len(self._conns)})"
