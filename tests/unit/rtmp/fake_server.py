"""A tiny scripted RTMP server on asyncio for testing the publisher's socket edge (TLS,
back-pressure, server-side close). Built from our own chunk/AMF0 code, so it proves
nothing about interoperability: that is what the nginx-rtmp tests are for."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from typing import Any

from wcs.rtmp import amf0
from wcs.rtmp import messages as m
from wcs.rtmp.chunk import ChunkDecoder, ChunkEncoder
from wcs.rtmp.handshake import HANDSHAKE_SIZE
from wcs.rtmp.messages import RtmpMessage


@dataclass
class FakeRtmpServer:
    publish_code: str = "NetStream.Publish.Start"
    stop_reading_when_publishing: bool = False
    close_when_publishing: bool = False
    ssl_context: ssl.SSLContext | None = None
    received: list[RtmpMessage] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    publishing: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> FakeRtmpServer:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await self._server.wait_closed()

    def commands(self) -> list[list[Any]]:
        return [amf0.decode(x.payload) for x in self.received if x.type_id == m.COMMAND_AMF0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._session(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        c0c1 = await reader.readexactly(1 + HANDSHAKE_SIZE)
        writer.write(b"\x03" + bytes(HANDSHAKE_SIZE) + c0c1[1:])
        await reader.readexactly(HANDSHAKE_SIZE)
        enc, dec = ChunkEncoder(), ChunkDecoder()

        def command(name: str, tx: float, *args: Any, sid: int = 0) -> None:
            body = amf0.encode(name, tx, *args)
            writer.write(enc.encode(RtmpMessage(m.COMMAND_AMF0, sid, 0, body, 3)))

        while True:
            data = await reader.read(65536)
            if not data:
                return
            for msg in dec.feed(data):
                self.received.append(msg)
                if msg.type_id != m.COMMAND_AMF0:
                    continue
                name, tx, *_ = amf0.decode(msg.payload)
                if name == "connect":
                    writer.write(enc.encode(m.window_ack_size(2_500_000)))
                    command(
                        "_result", tx, {"fmsVer": "fake"}, {"code": "NetConnection.Connect.Success"}
                    )
                elif name == "createStream":
                    command("_result", tx, None, 1.0)
                elif name == "publish":
                    level = "status" if self.publish_code.endswith("Start") else "error"
                    command(
                        "onStatus",
                        0,
                        None,
                        {"level": level, "code": self.publish_code, "description": "scripted"},
                        sid=1,
                    )
                    await writer.drain()
                    self.publishing.set()
                    if self.close_when_publishing:
                        return
                    if self.stop_reading_when_publishing:
                        await asyncio.Event().wait()  # hold the socket, read nothing
