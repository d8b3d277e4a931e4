"""Small test clients: an h11 HTTP client, a raw-bytes helper and a wsproto WebSocket client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

GUARD = 5.0  # a hang guard for reads, never an asserted duration


@dataclass
class Resp:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


class HttpClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, port: int) -> HttpClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: list[tuple[str, str | bytes]] | None = None,
    ) -> Resp:
        data = body.encode() if isinstance(body, str) else body
        hdrs = [(b"host", b"test")]
        for name, value in headers or []:
            hdrs.append((name.encode(), value if isinstance(value, bytes) else value.encode()))
        if data is not None:
            hdrs.append((b"content-length", str(len(data)).encode()))
        out = self.h.send(h11.Request(method=method, target=path, headers=hdrs)) or b""
        if data:
            out += self.h.send(h11.Data(data=data)) or b""
        out += self.h.send(h11.EndOfMessage()) or b""
        self.writer.write(out)
        await self.writer.drain()
        resp = await self._read_response()
        if self.h.our_state is h11.DONE and self.h.their_state is h11.DONE:
            self.h.start_next_cycle()
        return resp

    async def _read_response(self) -> Resp:
        resp: Resp | None = None
        body = bytearray()
        while True:
            event = self.h.next_event()
            if event is h11.NEED_DATA:
                self.h.receive_data(await asyncio.wait_for(self.reader.read(65536), GUARD))
            elif isinstance(event, h11.Response):
                resp = Resp(event.status_code, {k.decode(): v.decode() for k, v in event.headers})
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert resp is not None
                resp.body = bytes(body)
                return resp
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("closed before a response")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def request(port: int, method: str, path: str, **kw: Any) -> Resp:
    client = await HttpClient.open(port)
    try:
        return await client.request(method, path, **kw)
    finally:
        await client.close()


async def raw_exchange(port: int, data: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes and read everything until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if half_close:
            writer.write_eof()
        return await read_to_eof(reader)
    finally:
        writer.close()


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), GUARD)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


def parse_responses(data: bytes) -> list[Resp]:
    """Split a byte stream of Content-Length framed responses (what our server sends)."""
    out: list[Resp] = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"incomplete response head: {data[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        out.append(Resp(status, headers, rest[:length]))
        data = rest[length:]
    return out


class WsClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[Event] = []
        self.reject: RejectConnection | None = None
        self.reject_body = b""

    @classmethod
    async def connect(
        cls, port: int, target: str = "/", headers: list[tuple[bytes, bytes]] | None = None
    ) -> WsClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        writer.write(
            client.ws.send(Request(host="test", target=target, extra_headers=headers or []))
        )
        while True:
            event = await client.next_event()
            if isinstance(event, AcceptConnection):
                return client
            if isinstance(event, RejectConnection):
                client.reject = event
                if not event.has_body:
                    return client
            if isinstance(event, RejectData):
                client.reject_body += event.data
                if event.body_finished:
                    return client

    async def next_event(self) -> Event:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), GUARD)
            self.ws.receive_data(data or None)
            self.pending.extend(self.ws.events())
        return self.pending.pop(0)

    async def send(self, event: Event) -> None:
        self.writer.write(self.ws.send(event))
        await self.writer.drain()

    async def recv_message(self) -> str | bytes | CloseConnection | Pong:
        """The next whole message, or the Close / Pong event."""
        parts: list[Any] = []
        while True:
            event = await self.next_event()
            if isinstance(event, TextMessage | BytesMessage):
                parts.append(event.data)
                if event.message_finished:
                    if isinstance(event, TextMessage):
                        return "".join(parts)
                    return b"".join(parts)
            elif isinstance(event, CloseConnection | Pong):
                return event
            elif isinstance(event, Ping):
                await self.send(event.response())

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
