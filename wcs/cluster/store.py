"""The Redis edge of the registry: heartbeats, the call/stream tables, claims, the sweep.

Every method is one or a few Redis commands on a client with a socket timeout, so none can
hang; a Redis error propagates (``redis.exceptions.RedisError`` or ``OSError``) and the
caller (:mod:`wcs.cluster.node`) decides: degrade, retry on the next beat.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from wcs.cluster.registry import Entry, Keys, NodeInfo, dead_node_info, failed_view, stale


class Store:
    def __init__(self, redis: Any, keys: Keys, node_id: str, failed_ttl_ms: int) -> None:
        self.redis = redis
        self.keys = keys
        self.node_id = node_id
        self.failed_ttl_ms = failed_ttl_ms

    async def beat(self, info: NodeInfo, expiry_ms: int) -> bool:
        """Write our heartbeat; True when it was absent (first beat, expiry, Redis restart):
        then everything we hold must be written again."""
        old = await self.redis.set(
            self.keys.node(info.node_id), info.encode(), px=expiry_ms, get=True
        )
        return old is None

    async def leave(self) -> None:
        await self.redis.delete(self.keys.node(self.node_id))

    async def live_nodes(self) -> dict[str, NodeInfo]:
        keys = [k async for k in self.redis.scan_iter(match=self.keys.node_pattern, count=200)]
        if not keys:
            return {}
        out: dict[str, NodeInfo] = {}
        for raw in await self.redis.mget(keys):
            if raw is None:
                continue
            try:
                info = NodeInfo.decode(raw)
            except (ValueError, TypeError, KeyError):
                continue
            out[info.node_id] = info
        return out

    async def alive(self, node: str) -> bool:
        return bool(await self.redis.exists(self.keys.node(node)))

    async def claim(self, kind: str, key: str, entry: Entry) -> str | None:
        """Take ``key`` for us; the live node that holds it instead (None: it is ours now).

        An entry left by a node without a heartbeat does not block (the sweep is about to
        fail it): we take it over.
        """
        table = self.keys.table(kind)
        if await self.redis.hsetnx(table, key, entry.encode()):
            return None
        current = Entry.decode(await self.redis.hget(table, key) or b"")
        if current is not None and current.node != entry.node and await self.alive(current.node):
            return current.node
        await self.redis.hset(table, key, entry.encode())
        return None

    async def put(self, kind: str, key: str, entry: Entry) -> None:
        await self.redis.hset(self.keys.table(kind), key, entry.encode())

    async def release(self, kind: str, key: str, owner: str | None = None) -> None:
        """Remove ``key`` if it is still ours, or ``owner``'s (a later owner's entry stays)."""
        table = self.keys.table(kind)
        current = Entry.decode(await self.redis.hget(table, key) or b"")
        if current is None or current.node == (owner or self.node_id):
            await self.redis.hdel(table, key)

    async def owner(self, kind: str, key: str) -> str | None:
        raw = await self.redis.hget(self.keys.table(kind), key)
        entry = Entry.decode(raw) if raw is not None else None
        return entry.node if entry is not None else None

    async def entries(self, kind: str) -> dict[str, Entry]:
        out: dict[str, Entry] = {}
        for key, raw in (await self.redis.hgetall(self.keys.table(kind))).items():
            entry = Entry.decode(raw)
            if entry is not None:
                out[key.decode() if isinstance(key, bytes) else str(key)] = entry
        return out

    async def fail_stale(self, kind: str, live: Mapping[str, float]) -> list[tuple[str, Entry]]:
        """Entries of dead nodes: removed, each left as a FAILED view for one TTL. Only the
        node whose HDEL removed an entry writes its FAILED view (one per entry)."""
        done = []
        table = self.keys.table(kind)
        for key, entry in stale(await self.entries(kind), live):
            if await self.redis.hdel(table, key):
                view = failed_view(entry, dead_node_info(entry.node))
                await self.redis.set(
                    self.keys.failed(kind, key), json.dumps(view), px=self.failed_ttl_ms
                )
                done.append((key, entry))
        return done

    async def failed_views(self, kind: str) -> list[dict[str, Any]]:
        pattern = self.keys.failed_pattern(kind)
        keys = [k async for k in self.redis.scan_iter(match=pattern, count=200)]
        if not keys:
            return []
        return [json.loads(raw) for raw in await self.redis.mget(keys) if raw is not None]
