"""A small WCS WebSocket protocol client for tests (wsproto over asyncio streams)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl as ssl_module
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)


class WsClosed(Exception):
    pass


class WcsClient:
    """``connect()``, then ``send(message, payload)`` / ``recv()`` whole JSON frames."""

    def __init__(
        self, host: str, port: int, path: str = "/", ssl: ssl_module.SSLContext | None = None
    ) -> None:
        self.host, self.port, self.path, self.ssl = host, port, path, ssl
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.frames: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.all: list[dict[str, Any]] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._parts: list[str] = []
        self.rejected: int | None = None

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(
            self.host, self.port, ssl=self.ssl, server_hostname=self.host if self.ssl else None
        )
        host = f"[{self.host}]" if ":" in self.host else self.host  # RFC 3986 IP-literal
        self._writer.write(self.ws.send(Request(host=f"{host}:{self.port}", target=self.path)))
        while True:
            data = await self._reader.read(65536)
            if not data:
                raise WsClosed("closed during handshake")
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, AcceptConnection):
                    self._task = asyncio.create_task(self._read())
                    return
                if isinstance(event, RejectConnection):
                    self.rejected = event.status_code
                    raise WsClosed(f"rejected {event.status_code}")

    async def _read(self) -> None:
        assert self._reader is not None and self._writer is not None
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                self.ws.receive_data(data)
                for event in self.ws.events():
                    if isinstance(event, TextMessage):
                        self._parts.append(event.data)
                        if event.message_finished:
                            frame = json.loads("".join(self._parts))
                            self._parts = []
                            self.all.append(frame)
                            await self.frames.put(frame)
                    elif isinstance(event, Ping):
                        self._writer.write(self.ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        return
        except (ConnectionError, OSError):
            pass
        finally:
            await self.frames.put(None)

    def send(self, message: str, payload: Any = None) -> None:
        assert self._writer is not None
        text = json.dumps({"message": message, "data": [payload]})
        self._writer.write(self.ws.send(TextMessage(data=text)))

    async def recv(self, message: str | None = None, timeout: float = 20.0) -> dict[str, Any]:
        """The next frame (named ``message`` when given; pings are answered and skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await asyncio.wait_for(self.frames.get(), max(0.0, deadline - loop.time()))
            if frame is None:
                raise WsClosed("connection closed")
            if frame["message"] == "ping":
                self.send("pong", None)
                if message != "ping":
                    continue
            if message is None or frame["message"] == message:
                return frame

    async def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.write(self.ws.send(CloseConnection(code=1000)))
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
