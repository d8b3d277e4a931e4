"""What a node writes to the shared store and what is stale there (sans-IO: no Redis here).

Layout (every key under one prefix, ``wcs`` by default):

* ``<p>:node:<id>`` -- the node's :class:`NodeInfo` (JSON) with an expiry: its heartbeat.
  Gone means dead (or never there).
* ``<p>:calls`` -- hash callId -> :class:`Entry` (JSON: owner node and the call's REST view);
  ``<p>:streams`` -- hash stream name -> :class:`Entry`. A field is written with ``HSETNX``
  first, so a name is unique cluster-wide, then updated on every status change.
* ``<p>:failed:<kind>:<key>`` -- the view of a dead node's call or stream, status FAILED,
  kept for one TTL so ``find`` shows what happened; then nothing stale remains.
* pub/sub channels ``<p>:rpc:<id>`` (requests to a node) and ``<p>:reply:<id>`` (its answers).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

CALL = "call"
STREAM = "stream"
REGISTRATION = "registration"  # our SIP accounts' registrations (synced at each beat)


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "wcs"

    def node(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}"

    @property
    def node_pattern(self) -> str:
        return f"{self.prefix}:node:*"

    def node_of_key(self, key: str) -> str:
        return key[len(self.prefix) + len(":node:") :]

    def table(self, kind: str) -> str:
        return f"{self.prefix}:{kind}s"

    def failed(self, kind: str, key: str) -> str:
        return f"{self.prefix}:failed:{kind}:{key}"

    def failed_pattern(self, kind: str) -> str:
        return f"{self.prefix}:failed:{kind}:*"

    def rpc(self, node_id: str) -> str:
        return f"{self.prefix}:rpc:{node_id}"

    def reply(self, node_id: str) -> str:
        return f"{self.prefix}:reply:{node_id}"


@dataclass(frozen=True, slots=True)
class Timing:
    """From the one setting (the TTL): a node silent for ``ttl`` is failed everywhere.

    The heartbeat key lives 2/3 of the TTL (two beats may be lost), the sweep that notices
    its absence runs every 1/6: the worst case from the last beat to FAILED is 5/6 TTL.
    """

    ttl: float

    @property
    def key_expiry_ms(self) -> int:
        return max(1, int(self.ttl * 1000 * 2 / 3))

    @property
    def beat_interval(self) -> float:
        return self.ttl / 4

    @property
    def sweep_interval(self) -> float:
        return self.ttl / 6


@dataclass(slots=True)
class Load:
    calls: int = 0
    streams: int = 0
    viewers: int = 0
    relays: int = 0
    cpu: float = 0.0  # percent of one core, since the last beat


@dataclass(slots=True)
class NodeInfo:
    node_id: str
    role: str
    relay_host: str
    relay_port: int
    http_port: int
    started: float
    load: Load = field(default_factory=Load)
    draining: bool = False

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | bytes) -> NodeInfo:
        d = json.loads(raw)
        d["load"] = Load(**d.get("load", {}))
        return cls(**d)

    @property
    def can_originate(self) -> bool:
        return self.role in ("origin", "both") and not self.draining


@dataclass(slots=True)
class Entry:
    """One call or stream in the shared table: its owner and its REST view.

    ``epoch`` is the owner's start time: a node killed and started again under the same id
    within the TTL has a live heartbeat, but the entries of its previous life are stale.
    """

    node: str
    view: dict[str, Any]
    epoch: float = 0.0  # 0: not known (a claim made by another node for this one)

    def encode(self) -> str:
        d = {"node": self.node, "view": self.view, "epoch": self.epoch}
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | bytes) -> Entry | None:
        try:
            d = json.loads(raw)
            return cls(str(d["node"]), dict(d.get("view") or {}), float(d.get("epoch") or 0))
        except (ValueError, KeyError, TypeError):
            return None  # someone else's junk in our table: treated as absent


def stale(entries: Mapping[str, Entry], live: Mapping[str, float]) -> list[tuple[str, Entry]]:
    """The entries whose owner has no heartbeat (dead, or never seen), or that an earlier
    life of their owner wrote (``live``: node -> its start time)."""
    return [(key, e) for key, e in entries.items() if _stale(e, live)]


def _stale(entry: Entry, live: Mapping[str, float]) -> bool:
    started = live.get(entry.node)
    if started is None:
        return True
    return bool(entry.epoch and started and entry.epoch != started)


def failed_view(entry: Entry, info: str) -> dict[str, Any]:
    """What ``find`` shows of a dead node's call or stream for one TTL."""
    return {**entry.view, "nodeId": entry.node, "status": "FAILED", "info": info}


def dead_node_info(node: str) -> str:
    return f"Node {node} failed"


class CpuMeter:
    """Process CPU as a percentage of one core between two readings (fed, not measured)."""

    def __init__(self, now: float, cpu_seconds: float) -> None:
        self._t = now
        self._cpu = cpu_seconds

    def read(self, now: float, cpu_seconds: float) -> float:
        dt = now - self._t
        used = cpu_seconds - self._cpu
        self._t, self._cpu = now, cpu_seconds
        return round(100.0 * used / dt, 1) if dt > 0 else 0.0


def least_loaded(nodes: Iterable[NodeInfo]) -> NodeInfo | None:
    """The origin-capable node with the least CPU (then fewest calls)."""
    candidates = [n for n in nodes if n.can_originate]
    return min(candidates, key=lambda n: (n.load.cpu, n.load.calls), default=None)
