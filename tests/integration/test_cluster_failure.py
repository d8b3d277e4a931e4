"""Cluster failures (issue 15): a node killed with SIGKILL, Redis restarted, Redis stopped.

Node A holds a call (the built-in demo callee) and its stream; node B plays it to a WebSocket
viewer through a relay. kill -9 A: within the heartbeat TTL B shows the call and the stream
FAILED and its viewer gets FAILED; one TTL later nothing of A is left.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time

import pytest
import redis

from tests.fixtures.ports import free_port
from tests.integration.cluster_helpers import (
    entries,
    health,
    named,
    node,
    nodes_see_each_other,
    wait_for,
)
from tests.integration.conftest import WcsFactory
from tests.integration.playback import Viewer, http, whep_play, ws_play
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback  # noqa: F401
from tests.integration.wcs_ws_client import WcsClient
from tests.peers.redis import RedisServer

pytestmark = [pytest.mark.peers, pytest.mark.usefixtures("aiortc_on_loopback")]

TTL = 6.0


def demo_call(server: object, call_id: str, stream: str) -> None:
    status, _ = server.rest(  # type: ignore[attr-defined]
        "call/startup", {"callId": call_id, "callee": "demo", "toStream": stream}
    )
    assert status == 200


@pytest.mark.asyncio
async def test_killed_node_fails_its_calls_streams_and_edge_viewers(
    wcs: WcsFactory, redis_server: RedisServer
) -> None:
    ws_b = free_port()
    a = node(wcs, redis_server, "A", cluster_heartbeat_ttl=TTL)
    b = node(wcs, redis_server, "B", cluster_heartbeat_ttl=TTL, ws_port=ws_b)
    c = node(wcs, redis_server, "C", cluster_heartbeat_ttl=TTL)
    await asyncio.to_thread(nodes_see_each_other, a, b, c)
    await asyncio.to_thread(demo_call, a, "k1", "killed1")
    await asyncio.to_thread(
        wait_for, lambda: named(entries(b, "stream"), name="killed1"), 15, "stream on B"
    )
    client = WcsClient("127.0.0.1", ws_b)
    viewer = Viewer()
    try:
        await client.connect()
        client.send("connection", {"appKey": "defaultApp", "mediaProviders": ["WebRTC"]})
        await client.recv("getUserData")
        msid = await ws_play(client, "killed1", viewer)
        await viewer.wait(frames=10, audio_s=0.5)
        a.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        # The edge's viewer is told at once when the sweep sees A gone.
        event = await client.recv("notifyStreamStatusEvent", timeout=TTL + 5)
        assert event["data"][0]["mediaSessionId"] == msid
        assert event["data"][0]["status"] == "FAILED"
        assert event["data"][0]["info"] == "Node A failed"
        for other in (b, c):
            calls = named(await asyncio.to_thread(entries, other, "call"), callId="k1")
            assert [(x["status"], x["nodeId"]) for x in calls] == [("FAILED", "A")]
            streams = named(await asyncio.to_thread(entries, other, "stream"), name="killed1")
            assert [(s["status"], s["nodeId"]) for s in streams] == [("FAILED", "A")]
        assert time.monotonic() - killed < TTL, "not failed within the TTL"
    finally:
        await client.close()
        await viewer.close()
    assert health(b)["cluster"]["nodes"] == ["B", "C"]
    # One TTL later no stale entry is left anywhere.
    wait_for(lambda: b.rest("call/find_all", {})[0] == 404, TTL + 5, "call entries gone")
    wait_for(lambda: b.rest("stream/find_all", {})[0] == 404, TTL + 5, "stream entries gone")
    r = redis.Redis.from_url(redis_server.url)
    assert r.hgetall("wcs:calls") == {} and r.hgetall("wcs:streams") == {}
    assert list(r.scan_iter("wcs:failed:*")) == []
    r.close()


def test_redis_restart_registers_everything_again(
    wcs: WcsFactory, redis_server: RedisServer
) -> None:
    a = node(wcs, redis_server, "A", cluster_heartbeat_ttl=TTL)
    b = node(wcs, redis_server, "B", cluster_heartbeat_ttl=TTL)
    nodes_see_each_other(a, b)
    demo_call(a, "r1", "restart1")
    r = redis.Redis.from_url(redis_server.url)

    def registered() -> bool:
        raw = r.hget("wcs:calls", "r1")
        stream = r.hget("wcs:streams", "restart1")
        return raw is not None and stream is not None and json.loads(raw)["node"] == "A"

    wait_for(registered, 15, "call and stream registered")
    redis_server.restart()
    r.close()
    r = redis.Redis.from_url(redis_server.url)
    assert r.hget("wcs:calls", "r1") is None  # a really empty Redis
    wait_for(registered, TTL, "registered again after the restart")
    nodes_see_each_other(a, b)
    wait_for(lambda: named(entries(b, "call"), callId="r1", nodeId="A"), TTL, "call seen on B")
    # A name taken before the restart is still taken after it.
    status, body = b.rest("call/startup", {"callId": "r1", "callee": "demo"})
    assert status == 409 and "node A" in body["error"]
    r.close()


@pytest.mark.asyncio
async def test_redis_down_local_service_goes_on_degraded(
    wcs: WcsFactory, redis_server: RedisServer
) -> None:
    b = node(wcs, redis_server, "B", cluster_heartbeat_ttl=TTL)
    await asyncio.to_thread(demo_call, b, "l1", "local1")
    viewer = Viewer()
    try:
        await asyncio.to_thread(
            wait_for, lambda: named(entries(b, "stream"), name="local1"), 15, "stream"
        )
        await whep_play(b.base, "local1", viewer)
        await viewer.wait(frames=10, audio_s=0.5)
        redis_server.stop()
        await asyncio.to_thread(
            wait_for, lambda: health(b)["status"] == "degraded", TTL, "/health degraded"
        )
        assert health(b)["cluster"]["redis"] == "degraded"
        # The local viewer keeps playing, REST answers with local data and a warning.
        frames = viewer.video_frames
        await viewer.wait(frames=frames + 15, audio_s=0.5)
        url = f"{b.base}/rest-api/call/find_all"
        status, headers, body = await asyncio.to_thread(http, "POST", url, b"{}")
        found = named(json.loads(body), callId="l1", nodeId="B")
        assert status == 200 and len(found) == 1 and found[0]["status"] == "ESTABLISHED"
        assert "redis unreachable" in headers["x-wcs-cluster-warning"]
        status, _ = await asyncio.to_thread(b.rest, "call/terminate", {"callId": "l1"})
        assert status == 200
    finally:
        await viewer.close()
    # Redis back: the node is healthy again without a restart of its own.
    redis_server.start()
    wait_for(lambda: health(b)["status"] == "ok", TTL, "/health ok again")


def test_a_stopped_node_leaves_nothing_failed(wcs: WcsFactory, redis_server: RedisServer) -> None:
    a = node(wcs, redis_server, "A", cluster_heartbeat_ttl=TTL)
    b = node(wcs, redis_server, "B", cluster_heartbeat_ttl=TTL)
    nodes_see_each_other(a, b)
    demo_call(a, "s1", "stopped1")
    wait_for(lambda: named(entries(b, "stream"), name="stopped1"), 15, "stream seen on B")
    demo_call(a, "s2", "stopped2")  # still ringing when A stops: its names only claimed
    assert a.stop() == 0
    r = redis.Redis.from_url(redis_server.url)
    try:
        assert r.hgetall("wcs:calls") == {} and r.hgetall("wcs:streams") == {}
        assert r.get("wcs:node:A") is None
        wait_for(lambda: health(b)["cluster"]["nodes"] == ["B"], TTL, "A left")
        assert b.rest("call/find_all", {})[0] == 404  # gone, not FAILED
        assert list(r.scan_iter("wcs:failed:*")) == []
    finally:
        r.close()


def test_an_owner_that_does_not_answer_is_503_not_a_hang(
    wcs: WcsFactory, redis_server: RedisServer
) -> None:
    a = node(wcs, redis_server, "A", cluster_heartbeat_ttl=30)
    b = node(wcs, redis_server, "B", cluster_heartbeat_ttl=30, cluster_rpc_timeout=1)
    nodes_see_each_other(a, b)
    demo_call(a, "f1", "frozen1")
    wait_for(lambda: named(entries(b, "call"), callId="f1"), 15, "call seen on B")
    a.proc.send_signal(signal.SIGSTOP)  # A still holds its Redis connections, answers nothing
    try:
        status, body = b.rest("call/terminate", {"callId": "f1"})
        assert status == 503
        assert body["error"].startswith("owner node unavailable: cluster node A is unreachable")
        url = f"{b.base}/rest-api/call/find_all"
        status, headers, _ = http("POST", url, b"{}")
        assert status == 404  # B has no call of its own; A's could not be asked
        assert "A: cluster node A is unreachable" in headers["x-wcs-cluster-warning"]
    finally:
        a.proc.send_signal(signal.SIGCONT)
    status, _ = b.rest("call/terminate", {"callId": "f1"})
    assert status == 200  # A answers again
