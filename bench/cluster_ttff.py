"""Time from a viewer's WHEP request to its first decoded frame (issue 15): on the origin,
on an edge with the relay cold (the first viewer there: the relay is set up), and warm (a
relay is already up). Not a test: prints the figures.

Two ``wcs serve`` nodes and a private redis-server on loopback; the stream is the built-in
demo callee's (H.264 640x360, keyframe every 2 s) on node A. aiortc is the viewer.
Run: PYTHONPATH=. python bench/cluster_ttff.py [rounds]
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from tests.integration.playback import Viewer, whep_answer
from tests.peers.ports import free_port, free_port_range
from tests.peers.redis import start_redis

GRACE = 1.0


def start_node(url: str, node_id: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    http = free_port()
    media = free_port_range(100)
    env = dict(os.environ)
    env.update(
        {
            "WCS_BIND_IP": "127.0.0.1", "WCS_PUBLIC_IP": "127.0.0.1",
            "WCS_HTTP_PORT": str(http), "WCS_WS_PORT": str(free_port()),
            "WCS_HLS_PORT": str(free_port()), "WCS_RTSP_PORT": str(free_port()),
            "WCS_SIP_PORT": str(free_port()), "WCS_MEDIA_PORT_FROM": str(media),
            "WCS_MEDIA_PORT_TO": str(media + 99), "WCS_CLUSTER_REDIS_URL": url,
            "WCS_NODE_ID": node_id, "WCS_CLUSTER_RELAY_GRACE": str(GRACE),
            "WCS_LOG_LEVEL": "WARNING",
        }
    )  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "wcs", "serve"], env=env, stdout=log.open("wb"), stderr=-2
    )
    base = f"http://127.0.0.1:{http}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{base}/health", timeout=1).read()
            return proc, base
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"node {node_id} did not start: {log.read_text()}")


def health(base: str) -> dict[str, object]:
    body: dict[str, object] = json.loads(urllib.request.urlopen(f"{base}/health").read())
    return body


async def first_frame(base: str, name: str) -> float:
    viewer = Viewer()
    try:
        offer = await viewer.offer()
        t0 = time.monotonic()
        answer, _ = await whep_answer(base, name, offer)
        await viewer.answer(answer)
        await viewer.wait(frames=1, audio_s=0.0, timeout=30)
        assert viewer.first_frame_at is not None
        return viewer.first_frame_at - t0
    finally:
        await viewer.close()


async def run(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, start_redis(Path(tmp) / "redis") as redis:
        a, base_a = start_node(redis.url, "A", Path(tmp) / "a.log")
        b, base_b = start_node(redis.url, "B", Path(tmp) / "b.log")
        try:
            body = json.dumps({"callId": "t1", "callee": "demo", "toStream": "ttff"}).encode()
            req = urllib.request.Request(f"{base_a}/rest-api/call/startup", data=body)
            urllib.request.urlopen(req).read()
            await asyncio.sleep(3)
            times: dict[str, list[float]] = {"origin": [], "edge cold": [], "edge warm": []}
            for _ in range(rounds):
                while health(base_a)["cluster"]["relaysOut"]:  # type: ignore[index]
                    await asyncio.sleep(0.2)  # the last round's relay is gone: cold again
                times["origin"].append(await first_frame(base_a, "ttff"))
                cold = asyncio.create_task(first_frame(base_b, "ttff"))
                await asyncio.sleep(0.5)  # the cold viewer's relay is being set up / up
                times["edge warm"].append(await first_frame(base_b, "ttff"))
                times["edge cold"].append(await cold)
            for what, values in times.items():
                print(
                    f"{what:<10} first decoded frame: median {statistics.median(values):.2f} s, "
                    f"min {min(values):.2f}, max {max(values):.2f} ({len(values)} viewers)"
                )
        finally:
            for proc in (a, b):
                proc.terminate()
                proc.wait(10)


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
