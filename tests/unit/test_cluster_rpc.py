"""RpcBus without Redis: a request that reaches its node after its deadline is dropped."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from wcs.cluster.registry import Keys
from wcs.cluster.rpc import RpcBus


class FakeRedis:
    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, channel: str, data: str) -> int:
        self.published.append((channel, json.loads(data)))
        return 1


@pytest.mark.asyncio
async def test_a_request_past_its_deadline_is_not_served() -> None:
    served: list[str] = []

    async def handler(op: str, args: dict[str, Any]) -> dict[str, Any]:
        served.append(op)
        return {}

    redis = FakeRedis()
    bus = RpcBus(redis, None, Keys("wcs"), "A", 1.0, handler)
    late = {"id": "1", "from": "B", "op": "call.terminate", "args": {}, "expires": time.time() - 1}
    bus._on_message(json.dumps(late))
    in_time = dict(late, id="2", op="call.find", expires=time.time() + 5)
    bus._on_message(json.dumps(in_time))
    await asyncio.sleep(0.05)
    assert served == ["call.find"]  # the sender answered 503 for the late one: not acted on
    assert [m["id"] for _, m in redis.published] == ["2"]


@pytest.mark.asyncio
async def test_requests_carry_their_deadline() -> None:
    async def handler(op: str, args: dict[str, Any]) -> dict[str, Any]:
        return {}

    redis = FakeRedis()
    bus = RpcBus(redis, None, Keys("wcs"), "B", 0.2, handler)
    before = time.time()
    with pytest.raises(Exception, match="no answer"):
        await bus.request("A", "call.terminate", {"callId": "x"})
    ((_, message),) = redis.published
    assert before + 0.2 <= message["expires"] <= time.time() + 0.2
