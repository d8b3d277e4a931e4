"""Sans-IO RTSP 1.0 server connection (RFC 2326, the part of RFC 7826 players use).

One :class:`RtspConnection` per TCP connection, fed bytes with ``receive_data(data, now)``;
``data_to_send(now)`` is what to write (responses and interleaved RTP/RTCP), ``get_timer``
/ ``handle_timer`` expire sessions without keep-alive, ``next_event`` reports what the edge
must do (start or stop sending, release ports, close). The stream hub is reached through
:class:`StreamSource` (track descriptions, the next RTP sequence/timestamp for RTP-Info)
and server UDP ports through the ``udp_ports`` hook; both are plain calls.

Sessions belong to the connection that set them up: when it closes they end (every player
we target keeps its control connection open). Methods: OPTIONS, DESCRIBE, SETUP, PLAY,
PAUSE, TEARDOWN, GET_PARAMETER and SET_PARAMETER (empty: keep-alives). Errors: 400 (no or
bad CSeq, bad URL or Transport syntax, unparseable request: then the connection closes),
401 (auth), 404 (no such stream or track), 405/501 (methods), 453 (too many sessions, no
ports), 454 (unknown session), 455 (wrong state), 459 (aggregate SETUP of several tracks),
461 (no transport we offer), 505 (not RTSP/1.0), 551 (Require).
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from . import events as ev
from .auth import RtspAuth
from .describe import StreamDescription, build_sdp, content_base, parse_url
from .message import Interleaved, Request, RequestReader, Response, RtspParseError
from .message import interleaved_frame as frame
from .session import PLAYING, READY, RtspSession
from .transport import TrackTransport, TransportError, TransportSpec, parse_transport

PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER"
_NOT_ALLOWED = {"ANNOUNCE", "RECORD", "REDIRECT"}


class StreamSource(Protocol):
    def describe(self, name: str) -> StreamDescription | None: ...

    def rtp_info(self, name: str, track: int) -> tuple[int, int] | None:
        """(sequence number, RTP timestamp) of the next packet a new player gets."""
        ...


@dataclass(frozen=True, slots=True)
class RtspSettings:
    session_timeout: float = 60.0
    max_sessions: int = 4  # per connection
    max_output: int = 1 << 20  # queued interleaved bytes before packets are dropped
    server: str = "wcs"


class _Reply(Exception):
    """A request ends in an error status (raised by the helpers, answered once)."""

    def __init__(self, status: int, *headers: tuple[str, str]) -> None:
        super().__init__(status)
        self.status = status
        self.headers = list(headers)


class RtspConnection:
    def __init__(
        self,
        source: StreamSource,
        client_host: str,
        server_ip: str,
        settings: RtspSettings | None = None,
        auth: RtspAuth | None = None,
        udp_ports: Callable[[], tuple[int, int] | None] | None = None,
        session_ids: Callable[[], str] | None = None,
    ) -> None:
        self.source = source
        self.client_host = client_host
        self.server_ip = server_ip
        self.settings = settings or RtspSettings()
        self.auth = auth
        self.udp_ports = udp_ports
        self._new_id = session_ids or (lambda: secrets.token_hex(8))
        self.sessions: dict[str, RtspSession] = {}
        self.closed = False
        self.dropped_packets = 0
        self._reader = RequestReader()
        self._out = bytearray()
        self._events: deque[ev.RtspEvent] = deque()

    # ------------------------------------------------------------------ sans-IO contract
    def receive_data(self, data: bytes, now: float) -> None:
        if self.closed:
            return
        try:
            items = self._reader.feed(data)
        except RtspParseError as exc:
            self._out += Response(exc.status, [("Server", self.settings.server)]).serialize()
            self._close(str(exc), now)
            return
        for item in items:
            if isinstance(item, Interleaved):
                self._on_interleaved(item, now)
            else:
                self._out += self._answer(item, now).serialize()

    def data_to_send(self, now: float) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def get_timer(self) -> float | None:
        return min((s.expires for s in self.sessions.values()), default=None)

    def handle_timer(self, now: float) -> None:
        for session in [s for s in self.sessions.values() if s.expires <= now]:
            self._end(session, "timeout")

    def next_event(self) -> ev.RtspEvent | None:
        return self._events.popleft() if self._events else None

    # ------------------------------------------------------------------ edge actions
    def send_interleaved(
        self, session_id: str, track: int, data: bytes, rtcp: bool = False
    ) -> bool:
        """Queue one RTP (or RTCP) packet of a playing TCP session; False if not sent."""
        session = self.sessions.get(session_id)
        if session is None or session.state != PLAYING or self.closed:
            return False
        channel = session.channel_of(track, rtcp)
        if channel is None:
            return False
        if len(self._out) + len(data) > self.settings.max_output:
            self.dropped_packets += 1  # a client that does not read: bounded, never blocks
            return False
        self._out += frame(channel, data)
        return True

    def keepalive(self, session_id: str, now: float) -> None:
        """RTCP from the client over UDP counts as liveness (RFC 2326 A.2)."""
        session = self.sessions.get(session_id)
        if session is not None:
            session.touch(now)

    def end_session(self, session_id: str, reason: str = "stream") -> None:
        session = self.sessions.get(session_id)
        if session is not None:
            self._end(session, reason)

    def connection_lost(self, now: float) -> None:
        self._close("connection lost", now, announce=False)

    # ------------------------------------------------------------------ internals
    def _close(self, reason: str, now: float, announce: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        for session in list(self.sessions.values()):
            self._end(session, "closed")
        if announce:
            self._events.append(ev.CloseConnection(reason))

    def _end(self, session: RtspSession, reason: str) -> None:
        del self.sessions[session.id]
        self._events.append(
            ev.SessionEnded(session.id, session.stream, dict(session.tracks), reason)
        )

    def _on_interleaved(self, item: Interleaved, now: float) -> None:
        for session in self.sessions.values():
            if item.channel in session.used_channels():
                session.touch(now)
        self._events.append(ev.InterleavedReceived(item.channel, item.data))

    def _answer(self, req: Request, now: float) -> Response:
        base = [("Server", self.settings.server)]
        cseq = req.header("cseq")
        if cseq is None or not cseq.strip().isdigit() or len(cseq.strip()) > 10:
            return Response(400, base)
        headers = [("CSeq", cseq.strip()), *base]
        try:
            if req.version != "RTSP/1.0":
                raise _Reply(505)
            if req.header("require") is not None:
                raise _Reply(551, ("Unsupported", req.header("require") or ""))
            # Auth first: without it, nobody learns whether a session id exists.
            auth = self.auth
            if (
                req.method != "OPTIONS"
                and auth is not None
                and not auth.check(req.method, req.header("authorization"), now)
            ):
                raise _Reply(401, *(("WWW-Authenticate", c) for c in auth.challenges(now)))
            session = self._known_session(req, now)
            status, more, body = self._dispatch(req, session, now)
        except _Reply as reply:
            return Response(reply.status, headers + reply.headers)
        return Response(status, headers + more, body)

    def _known_session(self, req: Request, now: float) -> RtspSession | None:
        value = req.header("session")
        if value is None:
            return None
        session = self.sessions.get(value.split(";", 1)[0].strip())
        if session is None:
            raise _Reply(454)
        session.touch(now)
        return session

    def _dispatch(
        self, req: Request, session: RtspSession | None, now: float
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        method = req.method
        if method == "OPTIONS":
            return 200, [("Public", PUBLIC)], b""
        if method == "DESCRIBE":
            return self._describe(req)
        if method == "SETUP":
            return self._setup(req, session, now)
        if method in ("GET_PARAMETER", "SET_PARAMETER"):
            if method == "SET_PARAMETER" and req.body.strip():
                raise _Reply(451)
            return 200, [], b""
        if method in ("PLAY", "PAUSE", "TEARDOWN"):
            if session is None:
                raise _Reply(454)
            url = parse_url(req.uri)
            if url is None:
                raise _Reply(400)
            if url.stream != session.stream:
                raise _Reply(404)
            if method == "PLAY":
                return self._play(req, session)
            if method == "PAUSE":
                if session.state == PLAYING:
                    session.state = READY
                    self._events.append(ev.Paused(session.id, session.stream))
                return 200, [self._session_header(session)], b""
            self._end(session, "teardown")
            return 200, [], b""
        if method in _NOT_ALLOWED:
            raise _Reply(405, ("Allow", PUBLIC))
        raise _Reply(501)

    def _stream(self, uri: str) -> tuple[StreamDescription, int | None]:
        url = parse_url(uri)
        if url is None:
            raise _Reply(400)
        stream = self.source.describe(url.stream)
        if stream is None or not stream.tracks:
            raise _Reply(404)
        if url.track is not None and stream.track(url.track) is None:
            raise _Reply(404)
        return stream, url.track

    def _describe(self, req: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        stream, _ = self._stream(req.uri)
        sdp = build_sdp(stream, self.server_ip, secrets.randbits(48)).encode()
        headers = [("Content-Base", content_base(req.uri)), ("Content-Type", "application/sdp")]
        return 200, headers, sdp

    def _session_header(self, session: RtspSession) -> tuple[str, str]:
        return "Session", f"{session.id};timeout={int(session.timeout)}"

    def _setup(
        self, req: Request, session: RtspSession | None, now: float
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        stream, track = self._stream(req.uri)
        if track is None:
            if len(stream.tracks) != 1:
                raise _Reply(459)
            track = stream.numbered()[0][0]
        if session is not None:
            if session.stream != stream.name:
                raise _Reply(459)
            if session.state == PLAYING or track in session.tracks:
                raise _Reply(455)
        elif len(self.sessions) >= self.settings.max_sessions:
            raise _Reply(453)
        value = req.header("transport")
        if value is None:
            raise _Reply(461)
        try:
            specs = parse_transport(value)
        except TransportError:
            raise _Reply(400) from None
        used = session.used_channels() if session is not None else set()
        transport = self._choose(specs, used)
        if session is None:
            timeout = self.settings.session_timeout
            session = RtspSession(self._new_id(), stream.name, timeout, now + timeout)
            self.sessions[session.id] = session
        session.tracks[track] = transport
        self._events.append(ev.TrackSetup(session.id, stream.name, track, transport))
        return 200, [("Transport", transport.header()), self._session_header(session)], b""

    def _choose(self, specs: list[TransportSpec], used: set[int]) -> TrackTransport:
        no_ports = False
        for spec in specs:
            if not spec.unicast:
                continue
            if spec.tcp:
                channels = spec.interleaved
                if channels is None or used & set(channels):
                    free = next(c for c in range(0, 256, 2) if not used & {c, c + 1})
                    channels = (free, free + 1)
                return TrackTransport(True, channels=channels)
            if spec.udp and spec.client_ports is not None and self.udp_ports is not None:
                ports = self.udp_ports()
                if ports is None:
                    no_ports = True
                    continue
                return TrackTransport(False, client_ports=spec.client_ports, server_ports=ports)
        raise _Reply(453 if no_ports else 461)

    def _play(self, req: Request, session: RtspSession) -> tuple[int, list[tuple[str, str]], bytes]:
        base = content_base(req.uri.split("/" + "trackID=", 1)[0])
        infos = []
        for track in sorted(session.tracks):
            position = self.source.rtp_info(session.stream, track)
            if position is not None:
                infos.append(f"url={base}trackID={track};seq={position[0]};rtptime={position[1]}")
        headers = [self._session_header(session), ("Range", "npt=now-")]
        if infos:
            headers.append(("RTP-Info", ",".join(infos)))
        if session.state != PLAYING:
            session.state = PLAYING
            self._events.append(
                ev.PlayStarted(session.id, session.stream, dict(session.tracks), self.client_host)
            )
        return 200, headers, b""
