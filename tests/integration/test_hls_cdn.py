"""500 HLS clients behind a real cache: nginx ``proxy_cache`` + ``proxy_cache_lock`` (the
config of docs/hls-cdn.md) in front of the HLS listener of a live baresip call.

Half the clients play LL-HLS (blocking reload on the preload hint, every part), half play
HLS with blocking reload per segment (every segment); they run in two child processes
(:mod:`tests.peers.hls_clients`) so the server's loop is not theirs. Every client must get
every segment from the first it saw start to the last that completed, the same bytes for
all (a part client's parts concatenated are the segment a segment client got), and the
origin, counted by ``wcs_hls_requests_total{kind}`` on /metrics, must have served each
part, segment and blocking playlist about once (at most twice) whatever the client count.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.playout_helpers import get
from tests.integration.test_hls_rtsp_real_peers import live_call
from tests.integration.test_streams_real_peers import running

pytestmark = [pytest.mark.peers, pytest.mark.asyncio]

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 500
PROCESSES = 2
SECONDS = 14.0


def origin_requests(http_port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "wcs_hls_requests":
            for sample in family.samples:
                if sample.name == "wcs_hls_requests_total":
                    out[sample.labels["kind"]] = sample.value
    return out


async def run_clients(url: str) -> list[dict[str, Any]]:
    async def one() -> list[dict[str, Any]]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.peers.hls_clients", url,
            "--clients", str(CLIENTS // PROCESSES), "--seconds", str(SECONDS),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), SECONDS + 60)
        assert proc.returncode == 0, err.decode()[-2000:]
        clients: list[dict[str, Any]] = json.loads(out)["clients"]
        return clients

    batches = await asyncio.gather(*(one() for _ in range(PROCESSES)))
    return [c for batch in batches for c in batch]


async def test_500_clients_through_nginx_proxy_cache(kamailio, callee, hls_cache) -> None:
    async with running() as r:
        _, name, urls = await live_call(r, kamailio, callee())
        http_port = r.server.settings.http_port
        # The output starts on the first request; the cache then sees a settled stream.
        assert (await get(urls["hls"]))[0] == 200
        cache = hls_cache(r.server.playout.http.port)
        before = await asyncio.to_thread(origin_requests, http_port)
        clients = await run_clients(cache.url(f"/{name}/{name}.m3u8"))
        after = await asyncio.to_thread(origin_requests, http_port)

    assert len(clients) == CLIENTS
    assert [c["errors"] for c in clients if c["errors"]] == []
    # Every client has every segment from its first to its last, and the same bytes.
    digests: dict[int, set[str]] = defaultdict(set)
    parts: dict[int, set[int]] = defaultdict(set)
    for c in clients:
        got = {int(k): v for k, v in c["segments"].items()}
        assert got, c
        assert sorted(got) == list(range(c["first"], max(got) + 1)), c
        for msn, digest in got.items():
            digests[msn].add(digest)
        for msn, n in c["parts"].items():
            parts[int(msn)].add(n)
    assert all(len(d) == 1 for d in digests.values()), digests
    assert all(len(n) == 1 for n in parts.values()), parts
    lo = max(c["first"] for c in clients)
    hi = min(max(int(k) for k in c["segments"]) for c in clients)
    assert hi - lo >= 2, (lo, hi)  # a common run of segments every client got whole
    modes = {c["mode"] for c in clients}
    assert modes == {"parts", "segments"}

    # What reached the origin: about once per distinct object, not per client.
    served = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    distinct_parts = sum(n for ns in parts.values() for n in ns)
    distinct_segments = len(digests)
    client_requests = sum(c["requests"] for c in clients)
    print(
        f"\n{CLIENTS} clients, {client_requests} requests to the cache; origin: {served}; "
        f"distinct parts {distinct_parts}, segments {distinct_segments}"
    )
    assert served["part"] <= 2 * distinct_parts
    assert served["segment"] <= 2 * distinct_segments
    # One blocking reload per part and per segment (the keys every client asks for).
    assert served["blocking_playlist"] <= 2 * (distinct_parts + distinct_segments)
    assert 1 <= served["init"] <= 2
    assert served["playlist"] <= 2 * PROCESSES  # the clients' first, plain requests
    assert sum(served.values()) * 20 < client_requests
