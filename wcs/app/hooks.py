"""REST hooks: status events POSTed to the application backend of each appKey (WCS style).

WCS posts each event to ``<backend base URL>/<MethodName>`` (for example
``…/CallStatusEvent``) with the event object as JSON. Delivery here is fire-and-forget from the
caller's point of view: events are queued per backend and sent in order by one worker task per
backend, each attempt with a timeout and a bounded number of retries, so a slow or dead backend
never holds a call up. A backend that is down loses events after the retries (logged), and a
queue over ``max_queue`` drops its oldest event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import h11

log = logging.getLogger(__name__)


@dataclass(slots=True)
class HookStats:
    sent: int = 0
    failed: int = 0
    dropped: int = 0


@dataclass(slots=True)
class _Backend:
    base_url: str
    queue: deque[tuple[str, bytes]] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class HookPublisher:
    def __init__(
        self,
        backends: dict[str, str],
        *,
        timeout: float = 5.0,
        retries: int = 2,
        max_queue: int = 1000,
    ) -> None:
        self._urls = dict(backends)
        self._timeout = timeout
        self._retries = retries
        self._max_queue = max_queue
        self._backends: dict[str, _Backend] = {}
        self.node_id: str | None = None  # in a cluster: the nodeId of every event (WCS CDN)
        self.stats = HookStats()
        self._closed = False

    def has_backend(self, app_key: str | None) -> bool:
        return bool(app_key) and app_key in self._urls

    async def ask(self, app_key: str, method: str, body: dict[str, Any]) -> tuple[int, bytes]:
        """POST ``body`` to ``<url of app_key>/<method>`` now, and return the answer (status,
        body): for decisions the backend makes (an incoming call's answer). No queue, no retry:
        the caller bounds the wait and has a default."""
        url = self._urls.get(app_key)
        if url is None:
            raise ValueError(f"no REST hook backend for appKey {app_key!r}")
        payload = json.dumps(body, separators=(",", ":")).encode()
        return await post_json_reply(f"{url}/{method}", payload)

    def post(self, app_key: str | None, method: str, body: dict[str, Any]) -> None:
        """Queue ``body`` for ``<url of app_key>/<method>``; no backend configured: nothing."""
        if self._closed or not app_key or app_key not in self._urls:
            return
        url = self._urls[app_key]
        backend = self._backends.get(url)
        if backend is None:
            backend = _Backend(url)
            self._backends[url] = backend
            backend.task = asyncio.get_running_loop().create_task(self._run(backend))
        if len(backend.queue) >= self._max_queue:
            backend.queue.popleft()
            self.stats.dropped += 1
            log.warning("hook queue for %s full: oldest event dropped", url)
        if self.node_id is not None and body.get("nodeId", "") is None:
            body = {**body, "nodeId": self.node_id}
        payload = json.dumps(body, separators=(",", ":")).encode()
        backend.queue.append((method, payload))
        backend.wakeup.set()

    async def drain(self, timeout: float = 2.0) -> None:
        """Give queued events up to ``timeout`` seconds to go out (used at shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(b.queue for b in self._backends.values()) and loop.time() < deadline:
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        self._closed = True
        for backend in self._backends.values():
            if backend.task is not None:
                backend.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await backend.task

    async def _run(self, backend: _Backend) -> None:
        while True:
            if not backend.queue:
                backend.wakeup.clear()
                await backend.wakeup.wait()
                continue
            method, payload = backend.queue[0]
            url = f"{backend.base_url}/{method}"
            for attempt in range(self._retries + 1):
                try:
                    status = await asyncio.wait_for(post_json(url, payload), self._timeout)
                except (OSError, TimeoutError, h11.ProtocolError, ValueError) as exc:
                    log.info("hook %s attempt %d failed: %s", url, attempt + 1, exc)
                else:
                    if 200 <= status < 300:
                        self.stats.sent += 1
                        break
                    log.info("hook %s attempt %d answered %d", url, attempt + 1, status)
                if attempt < self._retries:
                    await asyncio.sleep(min(0.2 * 2**attempt, 2.0))
            else:
                self.stats.failed += 1
                log.warning("hook %s: giving up after %d attempts", url, self._retries + 1)
            if backend.queue:
                backend.queue.popleft()


async def post_json(url: str, payload: bytes) -> int:
    """POST ``payload`` as JSON with a one-shot HTTP/1.1 connection; returns the status."""
    status, _body = await post_json_reply(url, payload, read_body=False)
    return status


MAX_REPLY = 65536  # a hook's answer body (incoming call decisions) is small


async def post_json_reply(url: str, payload: bytes, *, read_body: bool = True) -> tuple[int, bytes]:
    """POST ``payload`` as JSON; the status and (with ``read_body``) the answer's body."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"unsupported hook URL {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    reader, writer = await asyncio.open_connection(
        parts.hostname, port, ssl=parts.scheme == "https" or None
    )
    try:
        conn = h11.Connection(h11.CLIENT)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        host = parts.netloc.rsplit("@", 1)[-1]
        writer.write(
            conn.send(
                h11.Request(
                    method="POST",
                    target=target,
                    headers=[
                        ("Host", host),
                        ("Content-Type", "application/json"),
                        ("Content-Length", str(len(payload))),
                        ("Connection", "close"),
                    ],
                )
            )
        )
        writer.write(conn.send(h11.Data(data=payload)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
        status: int | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                status = int(event.status_code)
                if not read_body:
                    return status, b""
            elif isinstance(event, h11.Data) and status is not None:
                body += event.data
                if len(body) > MAX_REPLY:
                    raise ValueError("hook answer too large")
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                if status is None:
                    raise OSError("connection closed before a response")
                return status, bytes(body)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
