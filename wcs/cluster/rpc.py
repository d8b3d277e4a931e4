"""Request/reply between nodes over Redis pub/sub, every request bounded by a timeout.

A request is published on the target's channel (``<p>:rpc:<node>``) with an id and our reply
channel; the target runs its handler and publishes ``{"id", "ok", "result"|"error"}`` there.
``PUBLISH`` returns how many subscribers got the message: 0 means the node is not listening
(dead, or cut off from Redis), which is an immediate :class:`Unreachable`; no answer within
the timeout is one too. Nothing ever waits longer than ``timeout``.

A request carries its deadline (wall clock; the nodes' clocks are assumed in step, as NTP
keeps them): a node that gets it late -- it was stopped or overloaded, and the sender has
already answered 503 -- drops it rather than acting on what its client was told failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from wcs.cluster.registry import Keys

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
RECONNECT_BACKOFF = (0.1, 0.5, 1.0, 2.0)


class Unreachable(Exception):
    """The node did not answer (not subscribed, or no reply in time)."""

    def __init__(self, node: str, why: str) -> None:
        super().__init__(f"cluster node {node} is unreachable ({why})")
        self.node = node


class RemoteError(Exception):
    """The node answered with an error."""


class RpcBus:
    def __init__(
        self,
        redis: Any,
        listen_redis: Any,
        keys: Keys,
        node_id: str,
        timeout: float,
        handler: Handler,
    ) -> None:
        self._redis = redis  # commands (socket timeout: nothing hangs)
        self._listen = listen_redis  # the subscription connection (blocks on reads)
        self._keys = keys
        self.node_id = node_id
        self.timeout = timeout
        self._handler = handler
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._work: set[asyncio.Task[None]] = set()
        self.subscribed = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for task in list(self._work):
            task.cancel()
        for fut in self._pending.values():
            fut.cancel()

    async def request(self, node: str, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """The handler's result on ``node``; Unreachable or RemoteError otherwise."""
        rid = uuid.uuid4().hex
        expires = time.time() + self.timeout
        message = {"id": rid, "from": self.node_id, "op": op, "args": args, "expires": expires}
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            async with asyncio.timeout(self.timeout):
                receivers = await self._redis.publish(self._keys.rpc(node), json.dumps(message))
                if not receivers:
                    raise Unreachable(node, "not listening")
                return await fut
        except TimeoutError:
            raise Unreachable(node, f"no answer in {self.timeout:g} s") from None
        except (OSError, ConnectionError) as exc:
            raise Unreachable(node, f"redis: {exc}") from None
        finally:
            self._pending.pop(rid, None)

    async def _run(self) -> None:
        attempt = 0
        while True:
            pubsub = self._listen.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._keys.rpc(self.node_id), self._keys.reply(self.node_id))
                self.subscribed.set()
                attempt = 0
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._on_message(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or restarted: subscribe again
                self.subscribed.clear()
                log.warning("cluster rpc: subscription lost (%s); resubscribing", exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(RECONNECT_BACKOFF[min(attempt, len(RECONNECT_BACKOFF) - 1)])
            attempt += 1

    def _on_message(self, data: bytes | str) -> None:
        try:
            msg = json.loads(data)
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        if "op" in msg:
            expires = msg.get("expires")
            if isinstance(expires, int | float) and time.time() > expires:
                log.info("cluster rpc %s from %s: came after its deadline, dropped",
                         msg.get("op"), msg.get("from"))  # fmt: skip
                return
            task = asyncio.get_running_loop().create_task(self._serve(msg))
            self._work.add(task)
            task.add_done_callback(self._work.discard)
            return
        fut = self._pending.get(str(msg.get("id")))
        if fut is None or fut.done():
            return
        if msg.get("ok"):
            fut.set_result(msg.get("result") or {})
        else:
            fut.set_exception(RemoteError(str(msg.get("error"))))

    async def _serve(self, msg: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"id": msg.get("id")}
        try:
            result = await self._handler(str(msg["op"]), dict(msg.get("args") or {}))
            reply.update(ok=True, result=result)
        except Exception as exc:
            log.warning("cluster rpc %s from %s failed: %s", msg.get("op"), msg.get("from"), exc)
            reply.update(ok=False, error=str(exc) or type(exc).__name__)
        with contextlib.suppress(Exception):
            await self._redis.publish(self._keys.reply(str(msg.get("from"))), json.dumps(reply))
