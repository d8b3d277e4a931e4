"""Media workers (``webrtc_workers=2``): aiortc viewers of a baresip call spread over both
worker processes all decode; killing one worker fails only its viewers (with a clear info),
the others play on, the worker comes back, and no worker outlives the server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import Any

import pytest

from tests.fixtures.ports import free_port
from tests.integration.conftest import HookCollector, WcsFactory, WcsProcess, pid_alive
from tests.integration.playback import TONE_HZ, Viewer, http, start_call, stream_entries, ws_play
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback  # noqa: F401
from tests.integration.wcs_ws_client import WcsClient

pytestmark = [pytest.mark.peers, pytest.mark.asyncio, pytest.mark.usefixtures("aiortc_on_loopback")]

VIEWERS = 8
WORKER_EXIT = "Failed by media worker exit"


def metric(server: WcsProcess, name: str) -> float:
    """The sum of a metric's samples in /metrics."""
    status, _, body = http("GET", f"{server.base}/metrics")
    assert status == 200
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith((f"{name} ", f"{name}{{"))
    ]
    assert values, name
    return sum(values)


def worker_pids(server: WcsProcess) -> dict[int, int]:
    """Worker index -> PID, from the children's command lines."""
    out: dict[int, int] = {}
    for pid in server.children():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"wcs.webrtc.fanout_worker" in argv and pid_alive(pid):
            out[int(json.loads(argv[-2])["index"])] = pid
    return out


async def test_viewers_spread_over_workers_and_a_dead_worker_fails_only_its_own(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    peer = callee(tone_hz=TONE_HZ)
    ws_port = free_port()
    server = wcs(rest_hooks=f"testApp={hooks.url}", ws_port=ws_port, webrtc_workers=2)
    pids = worker_pids(server)
    assert sorted(pids) == [0, 1], pids
    name = start_call(server, hooks, kamailio, peer)
    client = WcsClient("127.0.0.1", ws_port)
    viewers = [Viewer() for _ in range(VIEWERS)]
    try:
        await client.connect()
        client.send("connection", {"appKey": "defaultApp"})
        await client.recv("getUserData")
        msids = [await ws_play(client, name, v) for v in viewers]
        await asyncio.gather(*(v.wait(frames=20, audio_s=1.0, timeout=60) for v in viewers))
        for v in viewers:
            assert v.sizes == {(352, 288)}
        assert abs(viewers[0].dominant_hz() - TONE_HZ) <= 0.02 * TONE_HZ
        # Least loaded first: half the viewers on each worker, as find_all shows.
        entries = await asyncio.to_thread(stream_entries, server)
        worker_of = {
            e["mediaSessionId"]: e["webrtc"]["worker"] for e in entries if not e["published"]
        }
        assert sorted(worker_of) == sorted(msids)
        assert sorted(worker_of.values()) == [0] * (VIEWERS // 2) + [1] * (VIEWERS // 2)

        # The workers' per-viewer counters reach find_all and /metrics (stats every second).
        await asyncio.sleep(1.5)
        entries = await asyncio.to_thread(stream_entries, server)
        for e in entries:
            if not e["published"]:
                assert e["webrtc"]["tracks"]["video"]["packets"] > 0, e
        assert await asyncio.to_thread(metric, server, "wcs_media_workers") == 2
        assert await asyncio.to_thread(metric, server, "wcs_rtp_sent_packets_total") > 0
        assert await asyncio.to_thread(metric, server, "wcs_media_worker_drops_total") == 0

        doomed = {m for m, w in worker_of.items() if w == 0}
        signal_pid = pids[0]
        os.kill(signal_pid, signal.SIGKILL)
        failed: dict[str, str] = {}
        while len(failed) < len(doomed):
            event = await client.recv("notifyStreamStatusEvent", timeout=20)
            data = event["data"][0]
            assert data["status"] == "FAILED", data
            failed[data["mediaSessionId"]] = data["info"]
        assert set(failed) == doomed
        assert set(failed.values()) == {WORKER_EXIT}
        entries = await asyncio.to_thread(stream_entries, server)
        left = {e["mediaSessionId"] for e in entries if not e["published"]}
        assert left == set(msids) - doomed
        # The other worker's viewers play on.
        survivors = [v for v, m in zip(viewers, msids, strict=True) if m not in doomed]
        before = [v.video_frames for v in survivors]
        for v, n in zip(survivors, before, strict=True):
            await v.wait(frames=n + 15, audio_s=0)
        # The dead worker is replaced, and a new viewer plays (it goes to the idle worker).
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            now = worker_pids(server)
            if sorted(now) == [0, 1] and now[0] != signal_pid:
                break
            await asyncio.sleep(0.2)
        assert sorted(now) == [0, 1] and now[0] != signal_pid, now
        late = Viewer()
        viewers.append(late)
        msid = await ws_play(client, name, late)
        await late.wait(frames=20, audio_s=1.0, timeout=30)
        entries = await asyncio.to_thread(stream_entries, server)
        assert [e["webrtc"]["worker"] for e in entries if e["mediaSessionId"] == msid] == [0]
    finally:
        for v in viewers:
            await v.close()
        await client.close()
    # Stopping the server stops its workers.
    workers = list(worker_pids(server).values())
    assert server.stop() == 0
    deadline = time.monotonic() + 5
    while any(pid_alive(p) for p in workers) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not [p for p in workers if pid_alive(p)]


async def test_workers_exit_when_the_server_dies(wcs: WcsFactory) -> None:
    server = wcs(webrtc_workers=2)
    workers = list(worker_pids(server).values())
    assert len(workers) == 2
    server.proc.kill()  # no shutdown: the workers see their control channel end
    server.proc.wait(5)
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in workers) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not [p for p in workers if pid_alive(p)]
