"""One node of the cluster: builds the Redis clients, the registry writer, RPC, REST routing
and relays, and runs the one heartbeat loop (beat, re-register, sweep dead nodes).

Redis failures never reach the local service: a failed write leaves the entry dirty for the
next beat, the node reports ``degraded`` on ``/health`` and REST answers with local data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from wcs.app.call import FINAL_STATUSES, Call
from wcs.app.stream import Stream
from wcs.cluster.registry import (
    CALL,
    REGISTRATION,
    STREAM,
    CpuMeter,
    Entry,
    Keys,
    NodeInfo,
    Timing,
)
from wcs.cluster.relay_wire import RELAY_PROVIDER
from wcs.cluster.rpc import RpcBus
from wcs.cluster.settings import node_id as default_node_id
from wcs.cluster.store import Store
from wcs.rest.views import call_json, stream_json

if TYPE_CHECKING:
    from wcs.cluster.relay import Relays
    from wcs.config import Settings

log = logging.getLogger("wcs.cluster")


class ClusterNode:
    """This node's membership: what it holds, written to Redis; what the others hold, read."""

    def __init__(self, settings: Settings, http_port: int, relay_addr: tuple[str, int]) -> None:
        import redis.asyncio as aioredis  # the [cluster] extra; imported only when clustered

        s = settings
        self.settings = s
        self.node_id = default_node_id(s, http_port)
        self.timing = Timing(s.cluster_heartbeat_ttl)
        self.keys = Keys()
        timeout = s.cluster_rpc_timeout
        self.redis = aioredis.from_url(
            s.cluster_redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        # Subscriptions block on reads: no read timeout there, a health check instead.
        listen = aioredis.from_url(
            s.cluster_redis_url, socket_connect_timeout=timeout, health_check_interval=5
        )
        self._listen_redis = listen
        self.store = Store(self.redis, self.keys, self.node_id, int(self.timing.ttl * 1000))
        self.rpc = RpcBus(self.redis, listen, self.keys, self.node_id, timeout, self._on_rpc)
        self.info = NodeInfo(
            self.node_id, s.node_role, relay_addr[0], relay_addr[1], http_port, time.time()
        )
        self.live: dict[str, NodeInfo] = {}  # as of the last sweep
        self.degraded = True  # until the first beat got through
        self.error = "not connected yet"
        self._held: dict[tuple[str, str], Entry] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._flushing: asyncio.Task[None] | None = None
        self._closed = False
        self._claims: set[tuple[str, str]] = set()  # names claimed here, no entry yet
        self._loop_task: asyncio.Task[None] | None = None
        self._cpu = CpuMeter(time.monotonic(), time.process_time())
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {}
        self.load: Callable[[], tuple[int, int, int, int]] = lambda: (0, 0, 0, 0)
        self.relays: Relays | None = None
        # registrationId -> REST view of this node's SIP registrations (no password in it)
        self.registrations: Callable[[], dict[str, dict[str, Any]]] = dict

    # ------------------------------------------------------------------ wiring
    def handle(
        self, op: str, handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
    ) -> None:
        self._handlers[op] = handler

    async def _on_rpc(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        handler = self._handlers.get(op)
        if handler is None:
            raise ValueError(f"unknown cluster operation {op!r}")
        return await handler(args)

    def on_call(self, call: Call) -> None:
        """CallManager watcher: every status change rewrites the call's entry."""
        key = (CALL, call.call_id)
        if call.status in FINAL_STATUSES:
            self._set(key, None)
            name = call.request.to_stream
            if name and (STREAM, name) in self._claims:  # claimed, never published
                self._set((STREAM, name), None)
        else:
            view = {**call_json(call), "nodeId": self.node_id}
            self._set(key, Entry(self.node_id, view, self.info.started))

    def on_stream(self, stream: Stream) -> None:
        """StreamHub watcher: a published stream is in the table, an ended one is not.
        A relayed copy is not ours to register (its origin holds the name)."""
        if stream.provider == RELAY_PROVIDER:
            return
        key = (STREAM, stream.name)
        if stream.published:
            view = {**stream_json(stream), "nodeId": self.node_id}
            self._set(key, Entry(self.node_id, view, self.info.started))
        else:
            self._set(key, None)

    def _sync_registrations(self) -> None:
        """Registrations change on SIP answers and timers, not on a watcher: synced per beat."""
        current = self.registrations()
        for reg_id, view in current.items():
            held = self._held.get((REGISTRATION, reg_id))
            view = {**view, "nodeId": self.node_id}
            if held is None or held.view != view:
                self._set((REGISTRATION, reg_id), Entry(self.node_id, view, self.info.started))
        for kind, key in list(self._held):
            if kind == REGISTRATION and key not in current:
                self._set((kind, key), None)

    def _set(self, key: tuple[str, str], entry: Entry | None) -> None:
        if self._closed:
            return
        self._claims.discard(key)  # the watcher has taken over the claim
        if entry is None:
            self._held.pop(key, None)
        else:
            self._held[key] = entry
        self._dirty.add(key)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        """Write every dirty entry; on a Redis error they stay dirty for the next beat."""
        while self._dirty:
            key = self._dirty.pop()
            entry = self._held.get(key)
            try:
                if entry is None:
                    await self.store.release(*key)
                else:
                    await self.store.put(key[0], key[1], entry)
            except Exception as exc:
                self._dirty.add(key)
                self._degrade(exc)
                return

    async def claim(self, kind: str, key: str, owner: str | None = None) -> str | None:
        """Take a callId or stream name cluster-wide for us (or ``owner``, where the request
        is placed); the live node holding it, if any. Raises on a Redis error (the caller
        goes on locally, degraded)."""
        node = owner or self.node_id
        info = self.info if node == self.node_id else self.live.get(node)
        holder = await self.store.claim(kind, key, Entry(node, {}, info.started if info else 0.0))
        if holder is None and node == self.node_id and (kind, key) not in self._held:
            self._claims.add((kind, key))
        return holder

    async def release(self, kind: str, key: str, owner: str | None = None) -> None:
        self._claims.discard((kind, key))
        if (kind, key) not in self._held:
            with contextlib.suppress(Exception):
                await self.store.release(kind, key, owner)

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        self.rpc.start()
        await self._beat()
        with contextlib.suppress(TimeoutError):
            # The first node of a REST merge may ask us at once: be listening first.
            await asyncio.wait_for(self.rpc.subscribed.wait(), self.settings.cluster_rpc_timeout)
        self._loop_task = asyncio.get_running_loop().create_task(self._run())
        log.info("cluster node %s (%s) joined %s", self.node_id, self.info.role, self._where())

    async def close(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loop_task
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.settings.cluster_rpc_timeout):
                if self._flushing is not None:
                    await self._flushing  # a write in flight: let it land first
                # Leaving: what we still hold ends with us; removed before the heartbeat,
                # so no node ever sees it ownerless (FAILED).
                self._closed = True
                self._dirty.update(self._held, self._claims)
                self._held.clear()
                await self._flush()
                await self.store.leave()
        await self.rpc.close()
        for client in (self.redis, self._listen_redis):
            with contextlib.suppress(Exception):
                await client.aclose()

    def _where(self) -> str:
        pool = self.redis.connection_pool.connection_kwargs
        return f"redis {pool.get('host', '?')}:{pool.get('port', '?')}"

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.timing.sweep_interval)
            await self._beat()

    async def _beat(self) -> None:
        calls, streams, viewers, relays = self.load()
        load = self.info.load
        load.calls, load.streams, load.viewers, load.relays = calls, streams, viewers, relays
        load.cpu = self._cpu.read(time.monotonic(), time.process_time())
        self._sync_registrations()
        try:
            if await self.store.beat(self.info, self.timing.key_expiry_ms):
                if self._held:
                    log.warning(
                        "cluster: our heartbeat was gone (Redis restarted?); "
                        "registering %d calls/streams again",
                        len(self._held),
                    )
                self._dirty.update(self._held)
            await self._flush()
            self.live = await self.store.live_nodes()
            await self._sweep()
        except Exception as exc:
            self._degrade(exc)
            return
        if self.degraded:
            log.info("cluster: redis reachable; node %s registered", self.node_id)
        self.degraded, self.error = False, ""

    async def _sweep(self) -> None:
        live = {node: info.started for node, info in self.live.items()}
        live[self.node_id] = self.info.started
        for kind in (CALL, STREAM, REGISTRATION):
            for key, entry in await self.store.fail_stale(kind, live):
                log.warning("cluster: %s %s of dead node %s: FAILED", kind, key, entry.node)
        if self.relays is not None:
            self.relays.prune(set(live))

    def _degrade(self, exc: BaseException) -> None:
        if not self.degraded:
            log.warning("cluster: redis unreachable (%s); serving local state only", exc)
        self.degraded, self.error = True, str(exc) or type(exc).__name__

    def health(self) -> dict[str, Any]:
        return {
            "nodeId": self.node_id,
            "role": self.info.role,
            "redis": "degraded" if self.degraded else "ok",
            "nodes": sorted(self.live) if not self.degraded else [self.node_id],
            **({"error": self.error} if self.degraded else {}),
        }
