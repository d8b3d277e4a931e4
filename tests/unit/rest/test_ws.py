"""The WebSocket listener over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from tests.unit.rest.client import WsClient, parse_responses, raw_exchange, request
from wcs.rest.http import (
    HttpServer,
    Request,
    Response,
    Router,
    WebSocketConnection,
    WebSocketServer,
    empty,
)

pytestmark = pytest.mark.asyncio

Factory = Callable[..., Any]


class Echo:
    """Echoes every message; records what it saw so tests can check the handler side."""

    def __init__(self) -> None:
        self.connections: list[WebSocketConnection] = []
        self.ended = asyncio.Event()

    async def __call__(self, conn: WebSocketConnection) -> None:
        self.connections.append(conn)
        try:
            while True:
                msg = await conn.receive()
                if msg is None:
                    return
                if msg == "close-please":
                    await conn.close(4000)
                    return
                if isinstance(msg, str):
                    await conn.send_text(msg)
                else:
                    await conn.send_bytes(msg)
        finally:
            self.ended.set()


@pytest_asyncio.fixture
async def start() -> AsyncIterator[Factory]:
    servers: list[Any] = []

    async def factory(handler: Any, **kw: Any) -> WebSocketServer:
        server = WebSocketServer(handler, host="127.0.0.1", port=0, **kw)
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.close()


async def test_handshake_and_text_echo(start: Factory) -> None:
    echo = Echo()
    server = await start(echo)
    client = await WsClient.connect(server.port, "/any/path?x=1")
    try:
        assert client.reject is None
        await client.send(TextMessage(data='{"message":"connection","data":[{}]}'))
        assert await client.recv_message() == '{"message":"connection","data":[{}]}'
        await client.send(BytesMessage(data=b"\x00\x01"))
        assert await client.recv_message() == b"\x00\x01"
        conn = echo.connections[0]
        assert conn.path == "/any/path"
        assert conn.query == {"x": "1"}
        assert conn.remote is not None and conn.remote[0] == "127.0.0.1"
    finally:
        await client.close()


async def test_fragmented_message_is_joined(start: Factory) -> None:
    server = await start(Echo())
    client = await WsClient.connect(server.port)
    try:
        await client.send(TextMessage(data="hel", message_finished=False))
        await client.send(TextMessage(data="lo", message_finished=True))
        assert await client.recv_message() == "hello"
    finally:
        await client.close()


async def test_ping_is_answered_with_pong(start: Factory) -> None:
    server = await start(Echo())
    client = await WsClient.connect(server.port)
    try:
        await client.send(Ping(payload=b"hi"))
        pong = await client.recv_message()
        assert isinstance(pong, Pong)
        assert pong.payload == b"hi"
    finally:
        await client.close()


async def test_client_close_handshake_ends_the_handler(start: Factory) -> None:
    echo = Echo()
    server = await start(echo)
    client = await WsClient.connect(server.port)
    try:
        await client.send(CloseConnection(code=1000, reason="bye"))
        answer = await client.recv_message()
        assert isinstance(answer, CloseConnection)
        assert answer.code == 1000
        await asyncio.wait_for(echo.ended.wait(), 5)
        assert echo.connections[0].close_code == 1000
        assert await echo.connections[0].receive() is None
    finally:
        await client.close()


async def test_server_side_close_with_code(start: Factory) -> None:
    server = await start(Echo())
    client = await WsClient.connect(server.port)
    try:
        await client.send(TextMessage(data="close-please"))
        event = await client.recv_message()
        assert isinstance(event, CloseConnection)
        assert event.code == 4000
        await client.send(event.response())
    finally:
        await client.close()


async def test_oversize_message_closes_with_1009(start: Factory) -> None:
    echo = Echo()
    server = await start(echo, max_message=1000)
    client = await WsClient.connect(server.port)
    try:
        await client.send(TextMessage(data="x" * 1000))  # exactly the limit is fine
        assert await client.recv_message() == "x" * 1000
        await client.send(TextMessage(data="y" * 600, message_finished=False))
        await client.send(TextMessage(data="y" * 600, message_finished=True))
        event = await client.recv_message()
        assert isinstance(event, CloseConnection)
        assert event.code == 1009
        await client.send(event.response())
        await asyncio.wait_for(echo.ended.wait(), 5)
    finally:
        await client.close()


async def test_auth_token_in_query_and_rejection(start: Factory) -> None:
    echo = Echo()
    server = await start(echo, auth="token:WSSECRET")
    denied = await WsClient.connect(server.port, "/?token=nope")
    await denied.close()
    assert denied.reject is not None
    assert denied.reject.status_code == 401
    assert b"WSSECRET" not in denied.reject_body
    client = await WsClient.connect(server.port, "/?token=WSSECRET")
    try:
        assert client.reject is None
        await client.send(TextMessage(data="ok"))
        assert await client.recv_message() == "ok"
        assert "token" not in echo.connections[0].query
    finally:
        await client.close()
    header = [(b"authorization", b"Bearer WSSECRET")]
    client = await WsClient.connect(server.port, "/", headers=header)
    try:
        assert client.reject is None
    finally:
        await client.close()


async def test_plain_http_on_the_ws_port_gets_426(start: Factory) -> None:
    server = await start(Echo())
    resp = await request(server.port, "GET", "/")
    assert resp.status == 426
    assert resp.headers["upgrade"] == "websocket"


async def test_bad_handshake_gets_400(start: Factory) -> None:
    server = await start(Echo())
    wire = (
        b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nConnection: close\r\n\r\n"  # no key
    )
    (resp,) = parse_responses(await raw_exchange(server.port, wire))
    assert resp.status == 400


async def test_handler_crash_closes_with_1011(start: Factory) -> None:
    async def crash(conn: WebSocketConnection) -> None:
        await conn.receive()
        raise RuntimeError("bug")

    server = await start(crash)
    client = await WsClient.connect(server.port)
    try:
        await client.send(TextMessage(data="go"))
        event = await client.recv_message()
        assert isinstance(event, CloseConnection)
        assert event.code == 1011
    finally:
        await client.close()


async def test_server_close_sends_going_away(start: Factory) -> None:
    echo = Echo()
    server = await start(echo)
    client = await WsClient.connect(server.port)
    try:
        await client.send(TextMessage(data="a"))
        assert await client.recv_message() == "a"
        await server.close()
        event = await client.recv_message()
        assert isinstance(event, CloseConnection)
        assert event.code == 1001
    finally:
        await client.close()


async def test_upgrade_on_the_http_port_next_to_rest_routes() -> None:
    async def health(req: Request) -> Response:
        return empty()

    router = Router()
    router.add("GET", "/health", health)
    server = HttpServer(router, host="127.0.0.1", port=0, ws_handler=Echo())
    await server.start()
    try:
        assert (await request(server.port, "GET", "/health")).status == 200
        client = await WsClient.connect(server.port, "/ws")
        try:
            await client.send(TextMessage(data="both"))
            assert await client.recv_message() == "both"
        finally:
            await client.close()
    finally:
        await server.close()


async def test_frame_sent_together_with_the_handshake_is_not_lost(
    start: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wcs.rest.ws as ws_module

    # The raw client never answers the server's Close: do not wait long for it.
    monkeypatch.setattr(ws_module, "CLOSE_TIMEOUT", 0.1)

    async def once(conn: WebSocketConnection) -> None:
        msg = await conn.receive()
        assert isinstance(msg, str)
        await conn.send_text("got " + msg)

    server = await start(once)
    mask = b"\x01\x02\x03\x04"
    payload = b"early"
    frame = bytes([0x81, 0x80 | len(payload)]) + mask
    frame += bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    handshake = (
        b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    data = await raw_exchange(server.port, handshake + frame)
    assert data.startswith(b"HTTP/1.1 101 ")
    assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in data  # RFC 6455 section 1.3 example
    assert b"\x81\x09got early" in data


async def test_peer_that_stops_reading_is_dropped(
    start: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wcs.rest.ws as ws_module

    monkeypatch.setattr(ws_module, "SEND_TIMEOUT", 0.2)
    gave_up = asyncio.Event()
    sent = 0

    async def flood(conn: WebSocketConnection) -> None:
        nonlocal sent
        while not conn.closed and sent < 10_000:  # bounded: ~640 MB would be a bug
            await conn.send_bytes(b"x" * 65536)
            sent += 1
        gave_up.set()

    server = await start(flood)
    client = await WsClient.connect(server.port)  # ... and never reads again
    try:
        await asyncio.wait_for(gave_up.wait(), 30)
        assert sent < 10_000
    finally:
        await client.close()


async def test_stalled_fragmented_message_is_dropped_with_1008(start: Factory) -> None:
    """Issue 18: a message whose last fragment never comes no longer holds its buffer."""
    from wcs.limits import REJECTIONS

    before = REJECTIONS.labels("ws_fragment_timeout").value
    echo = Echo()
    server = await start(echo, fragment_timeout=0.2)
    client = await WsClient.connect(server.port)
    try:
        await client.send(TextMessage(data="z" * 500, message_finished=False))
        event = await client.recv_message()  # nothing else is sent: the server gives up
        assert isinstance(event, CloseConnection) and event.code == 1008
        await asyncio.wait_for(echo.ended.wait(), 5)
        assert REJECTIONS.labels("ws_fragment_timeout").value == before + 1
    finally:
        await client.close()


async def test_ws_sessions_per_ip_over_the_limit_get_503(start: Factory) -> None:
    from wcs.limits import Quota

    echo = Echo()
    server = await start(echo, quota=Quota("test_ws_sessions", 10, 1))
    first = await WsClient.connect(server.port)
    try:
        assert first.reject is None
        data = await raw_exchange(server.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 503 ") and b"too many connections" in data
    finally:
        await first.close()
