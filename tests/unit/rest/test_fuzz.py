"""Random bytes at the HTTP listener: it answers 4xx or closes, and keeps serving others."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.rest.client import GUARD, parse_responses
from wcs.rest.http import (
    HttpServer,
    Request,
    Response,
    Router,
    WebSocketConnection,
    WebSocketServer,
    empty,
    json_response,
)


async def echo(req: Request) -> Response:
    return json_response(req.params().raw)


async def health(req: Request) -> Response:
    return empty()


class ServerThread:
    """A listener on its own event loop thread, so the test can use blocking sockets."""

    def __init__(self, server: HttpServer | WebSocketServer) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = server
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(GUARD)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(GUARD)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(GUARD)
        self.loop.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    router = Router()
    router.add(["GET", "POST"], "/echo", echo)
    router.add("GET", "/health", health)
    http = HttpServer(router, host="127.0.0.1", port=0, max_body=4096, request_timeout=2.0)
    with ServerThread(http) as s:
        yield s


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)  # end of input: nothing is left to wait for
        except OSError:
            return b""  # the server already closed on us: that is an allowed answer
        out = bytearray()
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return bytes(out)


PREFIXES = [
    b"",
    b"GET /health HTTP/1.1\r\n",
    b"POST /echo HTTP/1.1\r\nHost: x\r\n",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(prefix=st.sampled_from(PREFIXES), noise=st.binary(max_size=600))
def test_random_bytes_get_4xx_or_close(server: ServerThread, prefix: bytes, noise: bytes) -> None:
    data = exchange(server.server.port, prefix + noise)
    if data:
        for resp in parse_responses(data):
            assert resp.status < 500, resp
    # ... and the server still serves a well-formed request on another connection.
    answer = exchange(server.server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")


async def echo_ws(conn: WebSocketConnection) -> None:
    while (msg := await conn.receive()) is not None:
        if isinstance(msg, str):
            await conn.send_text(msg)
        else:
            await conn.send_bytes(msg)


@pytest.fixture(scope="module")
def ws_server() -> Iterator[ServerThread]:
    ws = WebSocketServer(echo_ws, host="127.0.0.1", port=0, max_message=4096)
    with ServerThread(ws) as s:
        yield s


HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(noise=st.binary(max_size=300))
def test_random_frames_after_the_handshake_close_cleanly(
    ws_server: ServerThread, noise: bytes
) -> None:
    data = exchange(ws_server.server.port, HANDSHAKE + noise)
    assert data.startswith(b"HTTP/1.1 101 ")
    # ... and a fresh handshake still works.
    again = exchange(ws_server.server.port, HANDSHAKE)
    assert again.startswith(b"HTTP/1.1 101 ")
