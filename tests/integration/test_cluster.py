"""A cluster of three ``wcs serve`` nodes on a private redis-server (issue 15).

A baresip call placed through node A is one call of the whole cluster: B and C list it with
nodeId A, a terminate sent to C ends it on A, its callId and stream name are taken everywhere.
aiortc viewers on B and C play A's stream through exactly one relay per edge.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
import redis

from tests.fixtures.ports import free_port
from tests.integration.cluster_helpers import (
    entries,
    health,
    metric,
    named,
    node,
    nodes_see_each_other,
    play_whep,
    wait_for,
)
from tests.integration.conftest import HookCollector, WcsFactory, call_body
from tests.integration.playback import TONE_HZ, Viewer, start_call, whep_play, ws_play
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback  # noqa: F401
from tests.integration.wcs_ws_client import WcsClient
from tests.peers.redis import RedisServer
from wcs.cluster.relay_wire import VIDEO, RelayCodec

pytestmark = [pytest.mark.peers, pytest.mark.usefixtures("aiortc_on_loopback")]


def test_one_call_seen_and_ended_from_every_node(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, redis_server: RedisServer
) -> None:
    peer = callee(tone_hz=TONE_HZ)
    a = node(wcs, redis_server, "A", rest_hooks=f"testApp={hooks.url}")
    b = node(wcs, redis_server, "B")
    c = node(wcs, redis_server, "C")
    nodes_see_each_other(a, b, c)
    name = start_call(a, hooks, kamailio, peer)
    cid = name.removeprefix("stream_")
    for other in (b, c):
        calls = named(entries(other, "call"), callId=cid)
        assert len(calls) == 1 and calls[0]["nodeId"] == "A", calls
        assert calls[0]["status"] == "ESTABLISHED"
        streams = named(entries(other, "stream"), name=name, published=True)
        assert [s["nodeId"] for s in streams] == ["A"]
        status, found = other.rest("call/find", {"callId": cid})
        assert status == 200 and found[0]["nodeId"] == "A"
    # The callId and the stream name are taken cluster-wide: 409 on the other nodes.
    status, body = b.rest("call/startup", call_body(kamailio, cid, peer.user))
    assert status == 409 and body["field"] == "callId" and "node A" in body["error"]
    other_call = call_body(kamailio, "other-" + cid, peer.user, toStream=name)
    status, body = c.rest("call/startup", other_call)
    assert status == 409 and body["field"] == "toStream"
    # terminate sent to C runs on A, the owner.
    status, _ = c.rest("call/terminate", {"callId": cid})
    assert status == 200
    finish = hooks.wait_status(cid, "FINISH")
    assert finish["nodeId"] == "A"  # A's hooks name their node too
    assert a.rest("call/find", {"callId": cid})[0] == 404
    wait_for(lambda: b.rest("call/find", {"callId": cid})[0] == 404, 5, "call gone on B")
    # An unknown callId is 404 everywhere (asked of every node, none has it).
    assert b.rest("call/terminate", {"callId": "nosuch"})[0] == 404
    # A registration of ours made on B: in Redis with its node, listed on A with nodeId B.
    reg = {
        "sipLogin": "1003",
        "sipPassword": "secret1003",
        "sipDomain": kamailio.realm,
        "sipOutboundProxy": kamailio.host,
        "sipPort": str(kamailio.port),
    }
    status, made = b.rest("sip/register", reg)
    assert status == 200
    reg_id = made["registrationId"]
    r = redis.Redis.from_url(redis_server.url)
    try:
        wait_for(lambda: r.hget("wcs:registrations", reg_id), 10, "registration in Redis")
        stored = json.loads(r.hget("wcs:registrations", reg_id) or b"{}")
        assert stored["node"] == "B" and "secret1003" not in json.dumps(stored)
    finally:
        r.close()
    status, regs = a.rest("sip/find_all", {})
    assert status == 200 and [(x["registrationId"], x["nodeId"]) for x in regs] == [(reg_id, "B")]


@pytest.mark.asyncio
async def test_edges_play_the_origin_stream_through_one_relay_each(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, redis_server: RedisServer
) -> None:
    peer = callee(tone_hz=TONE_HZ)
    ws_b = free_port()
    a = node(wcs, redis_server, "A", rest_hooks=f"testApp={hooks.url}")
    b = node(wcs, redis_server, "B", ws_port=ws_b, cluster_relay_grace=1)
    c = node(wcs, redis_server, "C", cluster_relay_grace=1)
    await asyncio.to_thread(nodes_see_each_other, a, b, c)
    name = await asyncio.to_thread(start_call, a, hooks, kamailio, peer)
    whep_b, ws_viewer_b, whep_c = Viewer(), Viewer(), Viewer()
    client = WcsClient("127.0.0.1", ws_b)
    try:
        await whep_play(b.base, name, whep_b)
        await client.connect()
        client.send("connection", {"appKey": "defaultApp", "mediaProviders": ["WebRTC"]})
        await client.recv("getUserData")
        await ws_play(client, name, ws_viewer_b)
        await whep_play(c.base, name, whep_c)
        for viewer in (whep_b, ws_viewer_b, whep_c):
            await viewer.wait()
            assert viewer.sizes == {(352, 288)}
            assert abs(viewer.dominant_hz() - TONE_HZ) <= 0.02 * TONE_HZ
        # One relay per edge on A, whatever the number of viewers there.
        cluster_a = (await asyncio.to_thread(health, a))["cluster"]
        assert cluster_a["relaysOut"] == 2, cluster_a
        assert (await asyncio.to_thread(health, b))["cluster"]["relaysIn"] == 1
        relays_a = await asyncio.to_thread(metric, a, "wcs_cluster_relays", 'role="origin"')
        assert relays_a == 2
        assert await asyncio.to_thread(metric, a, "wcs_cluster_nodes") == 3
        # The edges' keyframe requests (viewers' PLIs, the cache) went up coalesced.
        up_b = await asyncio.to_thread(metric, b, "wcs_cluster_relay_keyframe_requests_total")
        assert up_b >= 1
    finally:
        await client.close()
        for viewer in (whep_b, ws_viewer_b, whep_c):
            await viewer.close()
    # The call ends: the relay counts are final. B (two viewers) got what C (one) got.
    status, _ = a.rest("call/terminate", {"callId": name.removeprefix("stream_")})
    assert status == 200
    await asyncio.to_thread(
        wait_for, lambda: health(a)["cluster"]["relaysOut"] == 0, 15, "relays closed on A"
    )
    sent = await asyncio.to_thread(metric, a, "wcs_cluster_relay_packets_total", 'direction="sent"')
    got_b = await asyncio.to_thread(
        metric, b, "wcs_cluster_relay_packets_total", 'direction="received"'
    )
    got_c = await asyncio.to_thread(
        metric, c, "wcs_cluster_relay_packets_total", 'direction="received"'
    )
    print(f"relay packets: A sent {sent:.0f}, B got {got_b:.0f}, C got {got_c:.0f}")
    assert got_b > 0 and got_c > 0
    assert got_b + got_c <= sent  # nothing arrives that A did not send once
    assert got_b < 1.5 * got_c  # per edge, not per viewer (B has twice C's viewers)
    for edge in (b, c):
        assert named(entries(edge, "stream"), name=name) == []


def test_relays_close_after_the_last_viewer_and_refuse_forgeries(
    wcs: WcsFactory, redis_server: RedisServer
) -> None:
    a = node(wcs, redis_server, "A")
    b = node(wcs, redis_server, "B", cluster_relay_grace=0.5)
    nodes_see_each_other(a, b)
    status, _ = a.rest("call/startup", {"callId": "d1", "callee": "demo", "toStream": "demo1"})
    assert status == 200
    wait_for(lambda: named(entries(b, "stream"), name="demo1", published=True), 15, "stream")
    asyncio.run(play_whep(b.base, "demo1"))
    wait_for(lambda: health(a)["cluster"]["relaysOut"] == 0, 10, "relay closed after grace")
    assert health(b)["cluster"]["relaysIn"] == 0
    # Datagrams to B's relay port that no relay of B sealed are dropped and counted.
    host, port = health(b)["cluster"]["relay"].rsplit(":", 1)
    before = metric(b, "wcs_cluster_relay_packets_total", 'direction="dropped"')
    forged = RelayCodec(b"\x00" * 8, b"k" * 32).seal(VIDEO, bytes(40))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for data in (forged, b"\x80" + bytes(39)):
            s.sendto(data, (host, int(port)))
    wait_for(
        lambda: metric(b, "wcs_cluster_relay_packets_total", 'direction="dropped"') == before + 2,
        5,
        "forged datagrams counted",
    )


def test_edge_places_calls_on_an_origin_and_an_edge_of_an_edge_plays(
    wcs: WcsFactory, redis_server: RedisServer
) -> None:
    a = node(wcs, redis_server, "A", node_role="origin", cluster_relay_grace=0.5)
    b = node(wcs, redis_server, "B", node_role="edge", cluster_relay_grace=0.5)
    c = node(
        wcs, redis_server, "C", node_role="edge", cluster_upstream="B", cluster_relay_grace=0.5
    )
    nodes_see_each_other(a, b, c)
    # /call/startup sent to an edge runs on the origin.
    status, _ = b.rest("call/startup", {"callId": "p1", "callee": "demo", "toStream": "chain1"})
    assert status == 200
    status, found = a.rest("call/find", {"callId": "p1"})
    assert status == 200 and found[0]["nodeId"] == "A"
    wait_for(lambda: named(entries(c, "stream"), name="chain1", published=True), 15, "stream")

    def one_relay_per_hop(viewer: Viewer) -> None:
        assert viewer.sizes == {(640, 360)}  # the demo callee's test card
        # C gets it from B, B from A: one relay on each hop.
        assert health(a)["cluster"]["relaysOut"] == 1
        assert (health(b)["cluster"]["relaysIn"], health(b)["cluster"]["relaysOut"]) == (1, 1)
        assert health(c)["cluster"]["relaysIn"] == 1

    asyncio.run(play_whep(c.base, "chain1", 15, one_relay_per_hop))
    # The last viewer gone: C's relay closes, then B's copy (it fed only C), then A's.
    wait_for(lambda: health(a)["cluster"]["relaysOut"] == 0, 15, "chain torn down")
    assert health(b)["cluster"]["relaysIn"] == 0 and health(c)["cluster"]["relaysIn"] == 0


@pytest.mark.asyncio
async def test_whip_names_are_cluster_wide_and_a_whip_stream_plays_on_another_node(
    wcs: WcsFactory, redis_server: RedisServer
) -> None:
    from tests.integration.publishing import Publisher
    from tests.integration.test_publish_aiortc import whip_post

    a = node(wcs, redis_server, "A")
    b = node(wcs, redis_server, "B")
    await asyncio.to_thread(nodes_see_each_other, a, b)
    await asyncio.to_thread(
        a.rest, "call/startup", {"callId": "w1", "callee": "demo", "toStream": "taken1"}
    )
    await asyncio.to_thread(
        wait_for, lambda: named(entries(b, "stream"), name="taken1"), 15, "taken1 registered"
    )
    taken, pub, viewer = Publisher(), Publisher(), Viewer()
    try:
        status, _, _ = await whip_post(b, "taken1", await taken.offer())
        assert status == 409  # published on A
        status, _, answer = await whip_post(b, "whipB", await pub.offer())
        assert status == 201
        await pub.answer(answer)
        await asyncio.to_thread(
            wait_for,
            lambda: named(entries(a, "stream"), name="whipB", nodeId="B", published=True),
            15,
            "whipB listed on A with nodeId B",
        )
        await whep_play(a.base, "whipB", viewer)  # A is the edge of B's stream
        await viewer.wait(frames=10, audio_s=0.5)
        assert (await asyncio.to_thread(health, a))["cluster"]["relaysIn"] == 1
    finally:
        for peer in (taken, pub, viewer):
            await peer.close()
