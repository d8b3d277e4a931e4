"""One client connection: h11 request/response cycles, limits, timeouts, WebSocket upgrade.

This is the asyncio edge; h11 and wsproto own the protocol state. Responses that end the
connection (400, 408, 413, 431) are written as raw bytes because h11 can only answer after
it parsed a request, and these may come before that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import NoReturn
from urllib.parse import parse_qs

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection
from wsproto.utilities import RemoteProtocolError as WsProtocolError

from wcs.limits import RateLimit
from wcs.rest.auth import TOKEN_QUERY, Authenticator
from wcs.rest.dispatch import Dispatcher
from wcs.rest.message import Headers, Request, Response, error
from wcs.rest.ws import WebSocketConnection, WsHandler

log = logging.getLogger("wcs.rest.access")

_READ_SIZE = 65536
_MAX_QUERY_FIELDS = 100
_LINGER_TIME = 1.0  # after an early error: read (and drop) the rest so the client sees it
_LINGER_BYTES = 1 << 20


@dataclass(frozen=True)
class Limits:
    max_body: int
    max_header: int
    idle_timeout: float
    request_timeout: float
    max_message: int
    fragment_timeout: float = 10.0


class _Close(Exception):
    """Internal: the connection is over (already answered or nobody to answer)."""


class HttpConnection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        limits: Limits,
        auth: Authenticator,
        cors_origin: str,
        dispatcher: Dispatcher | None,
        ws_handler: WsHandler | None,
        rate: RateLimit | None = None,
    ) -> None:
        self._rate = rate
        self._reader = reader
        self._writer = writer
        self._limits = limits
        self._auth = auth
        self._cors_origin = cors_origin
        self._dispatcher = dispatcher
        self._ws_handler = ws_handler
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_header)
        peer = writer.get_extra_info("peername")
        self.remote: tuple[str, int] | None = (
            (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) and len(peer) >= 2 else None
        )
        self.websocket: WebSocketConnection | None = None

    async def serve(self) -> None:
        try:
            while True:
                event, body = await self._read_request()
                if self._ws_handler is not None and _wants_websocket(event):
                    if await self._upgrade(event):
                        return
                else:
                    await self._answer(event, body)
                if self._h11.our_state is not h11.DONE or self._h11.their_state is not h11.DONE:
                    return  # MUST_CLOSE (HTTP/1.0, "Connection: close") or a denied switch
                self._h11.start_next_cycle()
        except _Close:
            pass
        except (ConnectionError, OSError):
            pass  # the peer went away; nothing to answer
        finally:
            if not self._writer.is_closing():
                self._writer.close()

    # --- reading -----------------------------------------------------------------------

    async def _read_request(self) -> tuple[h11.Request, bytes]:
        loop = asyncio.get_running_loop()
        deadline: float | None = None  # set by the first byte of this request
        request: h11.Request | None = None
        body = bytearray()
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint
                if status == 431:
                    await self._fail(431, "request headers too large")
                await self._fail(400, "malformed HTTP request")
            if event is h11.NEED_DATA:
                if self._h11.they_are_waiting_for_100_continue:
                    await self._write(
                        self._h11.send(h11.InformationalResponse(status_code=100, headers=[]))
                    )
                if deadline is None and request is None:
                    data = await self._read_idle()
                    deadline = loop.time() + self._limits.request_timeout
                else:
                    if deadline is None:
                        deadline = loop.time() + self._limits.request_timeout
                    data = await self._read_until(deadline)
                self._h11.receive_data(data)
            elif isinstance(event, h11.Request):
                request = event
                if event.http_version not in (b"1.0", b"1.1"):
                    await self._fail(505, "HTTP version not supported")
                # h11 only bounds *incomplete* heads; a whole big head in one read passes.
                if _head_size(event) > self._limits.max_header:
                    await self._fail(431, "request headers too large")
                length = _content_length(event)
                if length is not None and length > self._limits.max_body:
                    await self._fail(413, "request body too large")
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self._limits.max_body:
                    await self._fail(413, "request body too large")
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                return request, bytes(body)
            else:  # ConnectionClosed or PAUSED: nothing more to serve
                raise _Close

    async def _read_idle(self) -> bytes:
        """Wait for the start of a request; an idle keep-alive connection is just closed."""
        try:
            return await asyncio.wait_for(self._reader.read(_READ_SIZE), self._limits.idle_timeout)
        except TimeoutError:
            raise _Close from None

    async def _read_until(self, deadline: float) -> bytes:
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            if remaining <= 0:
                raise TimeoutError
            return await asyncio.wait_for(self._reader.read(_READ_SIZE), remaining)
        except TimeoutError:
            await self._fail(408, "request not received in time")

    # --- answering ---------------------------------------------------------------------

    def _make_request(self, event: h11.Request, body: bytes) -> Request:
        target = event.target.decode("latin-1")
        path, _, query_string = target.partition("?")
        return Request(
            method=event.method.decode("ascii", "replace").upper(),
            path=path,
            query=_parse_query(query_string),
            headers=Headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers),
            body=body,
            client=self.remote,
        )

    async def _answer(self, event: h11.Request, body: bytes) -> None:
        started = asyncio.get_running_loop().time()
        try:
            request = self._make_request(event, body)
        except ValueError:
            response = error(400, "bad query string")
        else:
            response = await self._respond(request)
        await self._send(response, head=event.method == b"HEAD")
        elapsed = (asyncio.get_running_loop().time() - started) * 1000.0
        # Never the body (SIP passwords) nor the query (may hold the token).
        log.debug(
            "%s %s %d %.1fms",
            event.method.decode("ascii", "replace"),
            event.target.decode("latin-1").partition("?")[0],
            response.status,
            elapsed,
        )

    async def _respond(self, request: Request) -> Response:
        if self._dispatcher is None:
            # A WebSocket-only listener: plain HTTP gets told to upgrade.
            response = error(426, "websocket upgrade required")
            response.headers.set("upgrade", "websocket")
            return response
        rate = self._rate
        now = asyncio.get_running_loop().time()
        if rate is not None and self.remote and not rate.allow(self.remote[0], now):
            response = error(429, f"too many requests (limit {rate.rate:g}/s per address)")
            response.headers.set("retry-after", str(rate.retry_after()))
            return response
        return await self._dispatcher.handle(request)

    async def _send(self, response: Response, head: bool = False) -> None:
        headers = [(k, v) for k, v in response.headers if k not in ("content-length", "connection")]
        bodyless = response.status < 200 or response.status in (204, 304)
        if not bodyless:
            headers.append(("content-length", str(len(response.body))))
        if self._cors_origin and "access-control-allow-origin" not in response.headers:
            headers.append(("access-control-allow-origin", self._cors_origin))
        try:
            reason = _reason(response.status)
            head_event = h11.Response(status_code=response.status, headers=headers, reason=reason)
            data = self._h11.send(head_event)
            if response.body and not bodyless and not head:
                data = (data or b"") + (self._h11.send(h11.Data(data=response.body)) or b"")
            data = (data or b"") + (self._h11.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError:
            # A handler built an unsendable response (e.g. a bad header): a bug, not input.
            log.exception("cannot send response %r", response)
            raise _Close from None
        await self._write(data)

    async def _upgrade(self, event: h11.Request) -> bool:
        """Accept or refuse a WebSocket upgrade; True when the connection became a socket."""
        assert self._ws_handler is not None
        request = self._make_request(event, b"")
        if not self._auth.check(request.headers, request.query):
            response = error(401, "authentication required")
            response.headers.set("www-authenticate", self._auth.challenge)
            await self._send(response)
            return False
        ws = WSConnection(ConnectionType.SERVER)
        try:
            ws.initiate_upgrade_connection(list(event.headers), event.target)
            list(ws.events())
        except WsProtocolError as exc:
            await self._send(error(400, f"bad websocket handshake: {exc}"))
            return False
        await self._write(ws.send(AcceptConnection()))
        assert ws.connection is not None
        trailing, _ = self._h11.trailing_data
        if self._auth.uses_query_token:
            request.query.pop(TOKEN_QUERY, None)
        self.websocket = WebSocketConnection(
            ws.connection,
            self._reader,
            self._writer,
            remote=self.remote,
            path=request.path,
            query=request.query,
            headers=request.headers,
            max_message=self._limits.max_message,
            fragment_timeout=self._limits.fragment_timeout,
        )
        log.debug("websocket %s upgraded from %s", request.path, self.remote)
        await self.websocket.run(self._ws_handler, trailing)
        return True

    # --- low level ---------------------------------------------------------------------

    async def _write(self, data: bytes | None) -> None:
        if not data:
            return
        self._writer.write(data)
        try:
            # A client that never reads must not pin us forever.
            await asyncio.wait_for(self._writer.drain(), self._limits.request_timeout)
        except TimeoutError:
            raise _Close from None

    async def _fail(self, status: int, message: str) -> NoReturn:
        """Answer with a closing error, linger briefly, and end the connection."""
        body = json.dumps({"error": message, "field": None}).encode()
        lines = [
            f"HTTP/1.1 {status} {_reason(status)}",
            "content-type: application/json; charset=utf-8",
            f"content-length: {len(body)}",
            "connection: close",
        ]
        if self._cors_origin:
            lines.append(f"access-control-allow-origin: {self._cors_origin}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        log.debug("%s from %s: %d %s", "closing", self.remote, status, message)
        with contextlib.suppress(ConnectionError, OSError, _Close):
            await self._write(raw)
            await self._linger()
        raise _Close

    async def _linger(self) -> None:
        # Closing with unread input makes the kernel send RST, which can destroy the
        # response before the client reads it; so half-close and drain a bounded amount.
        if self._writer.can_write_eof():
            self._writer.write_eof()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _LINGER_TIME
        drained = 0
        while drained < _LINGER_BYTES:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                chunk = await asyncio.wait_for(self._reader.read(_READ_SIZE), remaining)
            except TimeoutError:
                return
            if not chunk:
                return
            drained += len(chunk)


def _content_length(event: h11.Request) -> int | None:
    for name, value in event.headers:
        if name == b"content-length":
            return int(value)  # h11 has validated it
    return None


def _head_size(event: h11.Request) -> int:
    size = len(event.method) + len(event.target) + 12
    for name, value in event.headers:
        size += len(name) + len(value) + 4
    return size


def _wants_websocket(event: h11.Request) -> bool:
    for name, value in event.headers:
        if name == b"upgrade" and b"websocket" in value.lower():
            return True
    return False


def _parse_query(query_string: str) -> dict[str, str]:
    if not query_string:
        return {}
    parsed = parse_qs(query_string, keep_blank_values=True, max_num_fields=_MAX_QUERY_FIELDS)
    return {k: v[-1] for k, v in parsed.items()}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
