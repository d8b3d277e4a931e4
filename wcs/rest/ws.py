"""An accepted WebSocket: a reader task feeds wsproto, handlers get whole messages.

Ping is answered with Pong by the reader, fragmented messages are joined up to
``max_message`` bytes (bigger ones close with 1009) and must be complete within
``fragment_timeout`` seconds of their first byte (else 1008: a stalled message would hold
its buffer forever), and a protocol error closes with the code wsproto names.
``receive()`` returns None once the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from wsproto.connection import Connection, ConnectionState
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError

from wcs.limits import refuse
from wcs.rest.message import Headers

log = logging.getLogger(__name__)

WsHandler = Callable[["WebSocketConnection"], Awaitable[None]]

_READ_SIZE = 65536
_QUEUE_DEPTH = 64  # a handler that does not read stops our reads: TCP pushes back
CLOSE_TIMEOUT = 2.0  # how long close() waits for the peer's Close answer
SEND_TIMEOUT = 10.0  # a peer that stops reading this long is dropped, not waited for


class WebSocketConnection:
    def __init__(
        self,
        proto: Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        remote: tuple[str, int] | None,
        path: str,
        query: dict[str, str],
        headers: Headers,
        max_message: int,
        fragment_timeout: float = 10.0,
    ) -> None:
        self._proto = proto
        self._reader = reader
        self._writer = writer
        self.remote = remote
        self.path = path
        self.query = query
        self.headers = headers
        self._max_message = max_message
        self._fragment_timeout = fragment_timeout
        self._assembly_deadline: float | None = None  # set while a message is incomplete
        self._inbox: deque[str | bytes] = deque()
        self._wakeup = asyncio.Event()  # a message arrived or the connection ended
        self._space = asyncio.Event()  # the inbox has room again
        self._space.set()
        self._closed = asyncio.Event()  # set when the transport is done
        self._discarding = False  # after we sent Close: drop data until the peer's Close
        self._parts: list[str | bytes | bytearray] = []
        self._size = 0
        self.close_code: int | None = None

    @property
    def closed(self) -> bool:
        return self._proto.state is not ConnectionState.OPEN or self._closed.is_set()

    async def receive(self) -> str | bytes | None:
        """The next whole message, or None once the connection is closed."""
        while True:
            if self._inbox:
                msg = self._inbox.popleft()
                if len(self._inbox) < _QUEUE_DEPTH:
                    self._space.set()
                return msg
            if self._closed.is_set():
                return None
            self._wakeup.clear()
            await self._wakeup.wait()

    async def send_text(self, text: str) -> None:
        await self._send(TextMessage(data=text))

    async def send_bytes(self, data: bytes) -> None:
        await self._send(BytesMessage(data=data))

    async def _send(self, event: TextMessage | BytesMessage) -> None:
        # Sending on a closed socket is not an error for the caller: receive() tells it.
        if self.closed:
            return
        self._writer.write(self._proto.send(event))
        try:
            await asyncio.wait_for(self._writer.drain(), SEND_TIMEOUT)
        except TimeoutError:
            log.debug("websocket peer %s stopped reading; dropping it", self.remote)
            self._writer.transport.abort()
            self._finish()
        except ConnectionError:
            self._finish()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake, wait briefly for the answer, drop the transport."""
        if self._proto.state is ConnectionState.OPEN:
            self._write(CloseConnection(code=code, reason=reason))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), CLOSE_TIMEOUT)
        self._finish()

    def send_close_nowait(self, code: int = 1000) -> None:
        """Queue a Close frame without waiting (server shutdown)."""
        if self._proto.state is ConnectionState.OPEN:
            self._write(CloseConnection(code=code))

    def _write(self, event: Event) -> None:
        try:
            data = self._proto.send(event)
        except LocalProtocolError:
            return  # state moved on (peer closed first): nothing to send
        if not self._writer.is_closing():
            self._writer.write(data)

    def _finish(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
        self._wakeup.set()
        self._space.set()
        if not self._writer.is_closing():
            self._writer.close()

    async def run(self, handler: WsHandler, trailing: bytes) -> None:
        """Serve the connection: reader task plus the handler; returns when both are done."""
        reader = asyncio.create_task(self._read_loop(trailing))
        try:
            await handler(self)
        except Exception:
            log.exception("websocket handler failed (%s)", self.remote)
            await self.close(CloseReason.INTERNAL_ERROR)
        else:
            await self.close()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            self._finish()

    async def _read_loop(self, trailing: bytes) -> None:
        try:
            data: bytes | None = trailing
            while True:
                if data:
                    self._proto.receive_data(data)
                    if not await self._handle_events():
                        return
                if self._proto.state is ConnectionState.LOCAL_CLOSING:
                    # We sent Close: give the peer a bounded time to answer.
                    data = await asyncio.wait_for(self._reader.read(_READ_SIZE), CLOSE_TIMEOUT)
                elif self._assembly_deadline is not None:
                    data = await self._read_rest_of_message(self._assembly_deadline)
                else:
                    data = await self._reader.read(_READ_SIZE)
                if not data:
                    if self._proto.state is not ConnectionState.CLOSED:
                        self._proto.receive_data(None)
                    self.close_code = self.close_code or CloseReason.ABNORMAL_CLOSURE
                    return
        except (ConnectionError, OSError, TimeoutError):
            return
        finally:
            self._finish()

    async def _read_rest_of_message(self, deadline: float) -> bytes:
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(self._reader.read(_READ_SIZE), max(0.0, remaining))
        except TimeoutError:
            refuse("ws_fragment_timeout", f"{self.remote}: message not complete in time")
            self._drop_message(CloseReason.POLICY_VIOLATION, "message not complete in time")
            return b""

    def _drop_message(self, code: int, reason: str) -> None:
        self._discarding = True
        self._parts, self._size, self._assembly_deadline = [], 0, None
        self._write(CloseConnection(code=code, reason=reason))

    async def _handle_events(self) -> bool:
        """Process wsproto events; False once the connection is over."""
        for event in self._proto.events():
            if isinstance(event, TextMessage | BytesMessage):
                await self._on_message(event)
            elif isinstance(event, Ping):
                self._write(event.response())
            elif isinstance(event, CloseConnection):
                self.close_code = event.code
                if self._proto.state is ConnectionState.REMOTE_CLOSING:
                    self._write(event.response())  # answer the peer's Close
                elif self._proto.state is ConnectionState.OPEN:
                    # wsproto reports a protocol error as a Close event in state OPEN.
                    self._write(CloseConnection(code=event.code, reason=event.reason))
                return False
        return self._proto.state is not ConnectionState.CLOSED

    async def _on_message(self, event: TextMessage | BytesMessage) -> None:
        if self._discarding or self._proto.state is not ConnectionState.OPEN:
            return
        data = event.data
        self._size += len(data.encode()) if isinstance(data, str) else len(data)
        if self._size > self._max_message:
            refuse("ws_max_message", f"{self.remote}: message over {self._max_message} bytes")
            self._drop_message(CloseReason.MESSAGE_TOO_BIG, "too big")
            return
        self._parts.append(data)
        if not event.message_finished and self._assembly_deadline is None:
            now = asyncio.get_running_loop().time()
            self._assembly_deadline = now + self._fragment_timeout
        if event.message_finished:
            parts, self._parts, self._size = self._parts, [], 0
            self._assembly_deadline = None
            if isinstance(data, str):
                msg: str | bytes = "".join(p for p in parts if isinstance(p, str))
            else:
                msg = b"".join(p for p in parts if isinstance(p, bytes | bytearray))
            self._inbox.append(msg)
            self._wakeup.set()
            if len(self._inbox) >= _QUEUE_DEPTH:
                self._space.clear()
                await self._space.wait()
