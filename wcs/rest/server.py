"""Listeners: ``HttpServer`` (REST, optional WebSocket upgrade) and ``WebSocketServer``.

Each accepted connection runs in its own task, so a slow client never blocks another;
``close()`` stops listening and ends every open connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl

from wsproto.frame_protocol import CloseReason

from wcs import netaddr
from wcs.acceptor import Acceptor, Admission
from wcs.limits import Quota, RateLimit
from wcs.rest.auth import Authenticator
from wcs.rest.connection import HttpConnection, Limits
from wcs.rest.dispatch import Dispatcher
from wcs.rest.router import Router
from wcs.rest.ws import WsHandler

log = logging.getLogger(__name__)

DEFAULT_MAX_HEADER = 16384
_READER_LIMIT = 65536


def _refusal(status: int, reason: str, message: str) -> bytes:
    """A whole closing HTTP answer, written to a connection we do not serve."""
    body = json.dumps({"error": message, "field": None}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nretry-after: 1\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


TOO_MANY_CONNECTIONS = _refusal(503, "Service Unavailable", "too many connections")


class _Listener:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        limits: Limits,
        auth: str,
        cors_origin: str,
        router: Router | None,
        ws_handler: WsHandler | None,
        ssl_context: ssl.SSLContext | None = None,
        quota: Quota | None = None,
        rate: RateLimit | None = None,
    ) -> None:
        self._ssl = ssl_context
        self._rate = rate
        self._host = host
        self._port = port
        self._limits = limits
        self._auth = Authenticator(auth)
        self._cors_origin = cors_origin
        self._dispatcher = (
            Dispatcher(router, self._auth, cors_origin) if router is not None else None
        )
        self._ws_handler = ws_handler
        self._acceptor = Acceptor(
            self._protocol, quota=quota, ssl_context=ssl_context, refusal=TOO_MANY_CONNECTIONS
        )
        self._connections: dict[asyncio.Task[None], HttpConnection] = {}

    def _protocol(self, admission: Admission) -> asyncio.BaseProtocol:
        reader = asyncio.StreamReader(limit=_READER_LIMIT)
        return asyncio.StreamReaderProtocol(reader, lambda r, w: self._on_client(r, w, admission))

    async def start(self) -> None:
        self._port = await self._acceptor.start(self._host, self._port)
        log.info("%s listening on %s", type(self).__name__, netaddr.hostport(self._host, self.port))

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port 0)."""
        return self._port

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def _on_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, admission: Admission
    ) -> None:
        conn = HttpConnection(
            reader,
            writer,
            self._limits,
            self._auth,
            self._cors_origin,
            self._dispatcher,
            self._ws_handler,
            self._rate,
        )
        # Serve in our own task: cancelling the task asyncio.start_server made gets logged
        # as an error by asyncio on 3.11, and close() must be able to cancel connections.
        task = asyncio.create_task(conn.serve())
        self._connections[task] = conn
        try:
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is not None:
                # serve() handles client errors itself; anything here is our bug.
                log.error("connection from %s failed", conn.remote, exc_info=task.exception())
        finally:
            admission.release()
            self._connections.pop(task, None)
            if not writer.is_closing():
                writer.close()

    async def close(self) -> None:
        self._acceptor.close()
        for conn in self._connections.values():
            if conn.websocket is not None and not conn.websocket.closed:
                # Tell WebSocket peers we are going away rather than just dropping them.
                with contextlib.suppress(Exception):
                    conn.websocket.send_close_nowait(CloseReason.GOING_AWAY)
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class HttpServer(_Listener):
    """The REST listener; with ``ws_handler`` it also accepts WebSocket upgrades, with
    ``ssl_context`` it is an https one (HLS on ``hls_tls_port``)."""

    def __init__(
        self,
        router: Router,
        *,
        host: str,
        port: int,
        max_body: int = 1_048_576,
        idle_timeout: float = 30.0,
        request_timeout: float = 10.0,
        auth: str = "",
        cors_origin: str = "*",
        max_header: int = DEFAULT_MAX_HEADER,
        ws_handler: WsHandler | None = None,
        max_message: int = 1_048_576,
        quota: Quota | None = None,
        rate: RateLimit | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        limits = Limits(max_body, max_header, idle_timeout, request_timeout, max_message)
        super().__init__(
            quota=quota,
            rate=rate,
            host=host,
            port=port,
            limits=limits,
            auth=auth,
            cors_origin=cors_origin,
            router=router,
            ws_handler=ws_handler,
            ssl_context=ssl_context,
        )


class WebSocketServer(_Listener):
    """The signaling listener (WCS ``ws_port``): upgrades on any path; plain HTTP gets 426."""

    def __init__(
        self,
        handler: WsHandler,
        *,
        host: str,
        port: int,
        auth: str = "",
        max_message: int = 1_048_576,
        request_timeout: float = 10.0,
        idle_timeout: float = 30.0,
        max_header: int = DEFAULT_MAX_HEADER,
        ssl_context: ssl.SSLContext | None = None,
        quota: Quota | None = None,
        fragment_timeout: float = 10.0,
    ) -> None:
        # Handshake requests have no body; keep the body cap small. With ``ssl_context``
        # it is the wss listener. ``quota`` bounds the WebSocket sessions (by source IP).
        limits = Limits(
            65536, max_header, idle_timeout, request_timeout, max_message, fragment_timeout
        )
        super().__init__(
            quota=quota,
            host=host,
            port=port,
            limits=limits,
            auth=auth,
            cors_origin="",
            router=None,
            ws_handler=handler,
            ssl_context=ssl_context,
        )
