"""Helpers for the cluster tests: a private redis-server, nodes, /health and /metrics reads."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from tests.integration.conftest import WcsFactory, WcsProcess
from tests.integration.playback import Viewer, whep_play
from tests.peers.redis import RedisServer


def node(wcs: WcsFactory, redis: RedisServer, node_id: str, **settings: Any) -> WcsProcess:
    settings.setdefault("cluster_heartbeat_ttl", 10)
    return wcs(cluster_redis_url=redis.url, node_id=node_id, **settings)


def health(server: WcsProcess) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.base}/health", timeout=10) as resp:
        body: dict[str, Any] = json.loads(resp.read())
        return body


def metric(server: WcsProcess, name: str, labels: str = "") -> float:
    """One sample of ``/metrics`` (``labels``: the exact label text, e.g. 'direction="sent"')."""
    with urllib.request.urlopen(f"{server.base}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    want = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll until ``check()`` is truthy (the condition under test, not a sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def nodes_see_each_other(*servers: WcsProcess) -> None:
    ids = sorted(health(s)["cluster"]["nodeId"] for s in servers)
    for s in servers:
        wait_for(lambda s=s: health(s)["cluster"]["nodes"] == ids, 10, "membership")


def entries(server: WcsProcess, what: str) -> list[dict[str, Any]]:
    status, body = server.rest(f"{what}/find_all", {})
    return body if status == 200 and isinstance(body, list) else []


def named(items: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [i for i in items if all(i.get(k) == v for k, v in match.items())]


async def play_whep(
    base: str, name: str, frames: int = 10, while_playing: Callable[[Viewer], None] | None = None
) -> None:
    """An aiortc WHEP viewer of ``name`` at ``base`` decodes ``frames`` video frames (and
    half a second of audio); ``while_playing(viewer)`` runs before it closes."""
    viewer = Viewer()
    try:
        await whep_play(base, name, viewer)
        await viewer.wait(frames=frames, audio_s=0.5)
        if while_playing is not None:
            while_playing(viewer)
    finally:
        await viewer.close()
