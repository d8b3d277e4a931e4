"""REST hooks: ordered delivery per backend, retries, no backend → nothing, bounded queue."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from wcs.app.hooks import HookPublisher


async def backend(answers: list[int]) -> tuple[asyncio.Server, list[tuple[str, dict[str, Any]]]]:
    """A tiny HTTP backend answering the given statuses in turn (then 200)."""
    got: list[tuple[str, dict[str, Any]]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        length = next(
            int(v)
            for k, _, v in (ln.partition(": ") for ln in lines)
            if k.lower() == "content-length"
        )
        body = await reader.readexactly(length)
        path = lines[0].split()[1]
        status = answers.pop(0) if answers else 200
        if status == 200:
            got.append((path, json.loads(body)))
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, got


@pytest.mark.asyncio
async def test_events_arrive_in_order_with_retries() -> None:
    server, got = await backend([500, 200, 503])
    port = server.sockets[0].getsockname()[1]
    pub = HookPublisher({"app": f"http://127.0.0.1:{port}/apps/x"}, timeout=2, retries=3)
    for i in range(5):
        pub.post("app", "CallStatusEvent", {"n": i})
    pub.post("other", "CallStatusEvent", {"n": 99})  # no backend for this appKey: nothing
    await pub.drain(5)
    await pub.close()
    server.close()
    assert [b["n"] for _, b in got] == [0, 1, 2, 3, 4]
    assert {p for p, _ in got} == {"/apps/x/CallStatusEvent"}
    assert pub.stats.sent == 5 and pub.stats.failed == 0


@pytest.mark.asyncio
async def test_dead_backend_gives_up_without_blocking() -> None:
    pub = HookPublisher({"app": "http://127.0.0.1:9/none"}, timeout=0.5, retries=1)
    pub.post("app", "CallStatusEvent", {"n": 1})
    await pub.drain(5)
    await pub.close()
    assert pub.stats.failed == 1 and pub.stats.sent == 0


@pytest.mark.asyncio
async def test_queue_is_bounded() -> None:
    pub = HookPublisher({"app": "http://127.0.0.1:9/none"}, timeout=0.2, retries=0, max_queue=3)
    for i in range(10):
        pub.post("app", "E", {"n": i})
    assert pub.stats.dropped >= 6
    await pub.close()
