"""The RTSP asyncio edge: a TCP listener, one :class:`RtspConnection` per client driven by
:class:`wcs.sansio.Pump`, RTP out over UDP (server ports from the media port allocator) or
interleaved on the control connection.

What the edge needs of the stream hub is a :class:`PacketSource`: the core's
:class:`~wcs.rtsp.connection.StreamSource` (DESCRIBE) plus a packet subscription that
delivers ``(track index, RTP packet)`` as received, starting with the video since the cached
keyframe, and tells when the stream ends. Nothing is re-encoded.

Bounds: the connection's transport pauses writing over its high-water mark; while paused
nothing more is moved out of the core, whose interleaved queue is bounded
(``RtspSettings.max_output``, packets past it are dropped and counted), and a client that
stays paused for ``write_timeout`` is dropped. Connections are capped (``max_connections``,
extra ones are closed at once). Every playing track sends an RTCP sender report every
``sr_interval`` seconds and SR + BYE when the stream ends (:mod:`wcs.rtsp.reports`); the
session itself stays until the player tears it down or times out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from wcs import netaddr
from wcs.sansio import Pump

from . import events as ev
from .auth import RtspAuth
from .connection import RtspConnection, RtspSettings, StreamSource
from .reports import TrackReports

log = logging.getLogger(__name__)


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class PacketSource(StreamSource, Protocol):
    def subscribe(
        self, name: str, on_rtp: Callable[[int, bytes], None], on_end: Callable[[], None]
    ) -> Cancellable | None: ...


class UdpPorts(Protocol):
    """A pair of bound UDP sockets (the media port allocator's ``MediaPorts``)."""

    rtp_port: int
    rtp_socket: socket.socket
    rtcp_socket: socket.socket | None

    def release(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    core: RtspSettings = field(default_factory=RtspSettings)
    write_timeout: float = 10.0
    # The kernel's share of a connection's output: fixed, so a player that stops reading
    # stalls us after a bounded amount (autotuning would grow it to megabytes first).
    socket_buffer: int = 256 * 1024
    sr_interval: float = 5.0
    max_connections: int = 200


class RtspServer:
    def __init__(
        self,
        source: PacketSource,
        *,
        host: str,
        port: int,
        allocate_ports: Callable[[], UdpPorts],
        settings: EdgeSettings | None = None,
        auth: RtspAuth | None = None,
    ) -> None:
        self.source = source
        self.host = host
        self._port = port
        self.allocate_ports = allocate_ports
        self.settings = settings or EdgeSettings()
        self.auth = auth
        self.clients: set[_Client] = set()
        self.dropped_clients = 0  # over max_connections
        self.stalled_clients = 0  # dropped after write_timeout without reading
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Client(self), netaddr.listen_hosts(self.host), self._port, reuse_address=True
        )
        log.info("RTSP listening on %s", netaddr.hostport(self.host, self.port))

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for client in list(self.clients):
            client.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


class _Play:
    """One playing session: its subscription, UDP sockets and reports."""

    def __init__(self, event: ev.PlayStarted, clock_rates: dict[int, int]) -> None:
        self.event = event
        self.reports = {t: TrackReports(clock_rates.get(t, 90000)) for t in event.tracks}
        self.subscription: Cancellable | None = None
        self.timer: asyncio.TimerHandle | None = None

    def stop(self) -> None:
        if self.subscription is not None:
            self.subscription.cancel()
            self.subscription = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class _Client(asyncio.Protocol):
    def __init__(self, server: RtspServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.core: RtspConnection | None = None
        self.pump: Pump[RtspConnection] | None = None
        self._paused: asyncio.TimerHandle | None = None
        self._ports: dict[int, UdpPorts] = {}  # by server RTP port
        self._session_ports: dict[str, list[UdpPorts]] = {}
        self._plays: dict[str, _Play] = {}

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if len(self.server.clients) >= self.server.settings.max_connections:
            self.server.dropped_clients += 1
            transport.abort()
            return
        self.server.clients.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_SNDBUF, self.server.settings.socket_buffer
                )
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self.core = RtspConnection(
            self.server.source,
            str(peer[0]),
            str(local[0]),
            self.server.settings.core,
            self.server.auth,
            udp_ports=self._udp_ports,
        )
        self.pump = Pump(self.core, self._transmit, self._on_event, self.loop)

    def data_received(self, data: bytes) -> None:
        if self.core is not None and self.pump is not None:
            self.core.receive_data(data, self.loop.time())
            self.pump.wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.clients.discard(self)
        if self.core is None or self.pump is None:
            return
        self.core.connection_lost(self.loop.time())
        self.pump.wake()  # the sessions' SessionEnded: stop sending, release ports
        self.pump.close()
        for ports in list(self._ports.values()):
            self._release(ports)
        if self._paused is not None:
            self._paused.cancel()

    def pause_writing(self) -> None:
        if self._paused is None:
            self._paused = self.loop.call_later(self.server.settings.write_timeout, self._stalled)

    def resume_writing(self) -> None:
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        if self.pump is not None:
            self.pump.wake()

    def _stalled(self) -> None:
        self.server.stalled_clients += 1
        self.abort()

    def abort(self) -> None:
        """A client that does not read (or shutdown): drop it."""
        if self.transport is not None and not self.transport.is_closing():
            log.info("RTSP client %s dropped", self.core.client_host if self.core else "?")
            self.transport.abort()

    # -- the core's output and events --------------------------------------------------------
    def _transmit(self, now: float) -> None:
        if self._paused is not None or self.core is None or self.transport is None:
            return  # the core keeps (bounded) what it has until the client reads
        data = self.core.data_to_send(now)
        if data and not self.transport.is_closing():
            self.transport.write(data)

    def _udp_ports(self) -> tuple[int, int] | None:
        try:
            ports = self.server.allocate_ports()
        except RuntimeError:  # PortsExhausted: the core answers 453
            return None
        if ports.rtcp_socket is None:
            ports.release()
            return None
        self._ports[ports.rtp_port] = ports
        return ports.rtp_port, ports.rtp_port + 1

    def _on_event(self, event: object) -> None:
        if isinstance(event, ev.TrackSetup):
            self._on_setup(event)
        elif isinstance(event, ev.PlayStarted):
            self._on_play(event)
        elif isinstance(event, ev.Paused):
            play = self._plays.pop(event.session_id, None)
            if play is not None:
                play.stop()
        elif isinstance(event, ev.SessionEnded):
            self._on_ended(event)
        elif isinstance(event, ev.CloseConnection) and self.transport is not None:
            self.transport.close()  # what is written goes out first

    def _on_setup(self, event: ev.TrackSetup) -> None:
        server_ports = event.transport.server_ports
        if server_ports is None:
            return
        ports = self._ports.get(server_ports[0])
        if ports is None:
            return
        self._session_ports.setdefault(event.session_id, []).append(ports)
        rtcp = ports.rtcp_socket
        if rtcp is not None:  # the client's receiver reports keep the session alive
            self.loop.add_reader(rtcp, self._on_rtcp, rtcp, event.session_id)

    def _on_rtcp(self, sock: socket.socket, session_id: str) -> None:
        with contextlib.suppress(OSError):
            while sock.recv(2048):
                if self.core is not None:
                    self.core.keepalive(session_id, self.loop.time())
        if self.pump is not None:
            self.pump.wake()

    def _on_play(self, event: ev.PlayStarted) -> None:
        description = self.server.source.describe(event.stream)
        rates = {i: t.clock_rate for i, t in description.numbered()} if description else {}
        play = _Play(event, rates)
        self._plays[event.session_id] = play
        play.subscription = self.server.source.subscribe(
            event.stream,
            lambda track, packet: self._send(play, track, packet),
            lambda: self._stream_ended(play),
        )
        if play.subscription is None:  # gone between DESCRIBE and PLAY
            self._stream_ended(play)
            return
        play.timer = self.loop.call_later(self.server.settings.sr_interval, self._reports, play)

    def _send(self, play: _Play, track: int, packet: bytes, rtcp: bool = False) -> None:
        transport = play.event.tracks.get(track)
        core = self.core
        if transport is None or core is None:
            return
        if not rtcp:
            play.reports[track].on_packet(packet, self.loop.time())
        if transport.tcp:
            if core.send_interleaved(play.event.session_id, track, packet, rtcp):
                assert self.pump is not None
                self.pump.wake()
            return
        ports = self._ports.get(transport.server_ports[0]) if transport.server_ports else None
        if ports is None or transport.client_ports is None:
            return
        sock = ports.rtcp_socket if rtcp else ports.rtp_socket
        if sock is not None:
            dest = (play.event.client_host, transport.client_ports[int(rtcp)])
            with contextlib.suppress(OSError):  # a full socket buffer drops the packet
                sock.sendto(packet, dest)

    def _reports(self, play: _Play, bye: bool = False) -> None:
        now, wall = self.loop.time(), time.time()
        for track, reports in play.reports.items():
            data = reports.report(now, wall, bye)
            if data is not None:
                self._send(play, track, data, rtcp=True)
        if not bye:
            play.timer = self.loop.call_later(self.server.settings.sr_interval, self._reports, play)

    def _stream_ended(self, play: _Play) -> None:
        """SR + BYE on every track: players see the end. The session stays until the
        player's TEARDOWN (answered 200, not 454) or its timeout."""
        play.stop()
        self._reports(play, bye=True)

    def _on_ended(self, event: ev.SessionEnded) -> None:
        play = self._plays.pop(event.session_id, None)
        if play is not None:
            play.stop()
        for ports in self._session_ports.pop(event.session_id, []):
            self._release(ports)

    def _release(self, ports: UdpPorts) -> None:
        self._ports.pop(ports.rtp_port, None)
        if ports.rtcp_socket is not None:
            with contextlib.suppress(ValueError, OSError):
                self.loop.remove_reader(ports.rtcp_socket)
        ports.release()


__all__ = ["EdgeSettings", "PacketSource", "RtspServer", "UdpPorts"]
