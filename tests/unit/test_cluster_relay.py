"""Two nodes' relays in one process on loopback UDP, wired without Redis (the RPC is a direct
call): the stream arrives once per edge, keyframe requests go up coalesced, END and the
origin's death reach the edge's stream, chains refuse loops."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from wcs.app.stream import PublisherControl, StreamStatus, TrackInfo
from wcs.app.streams import StreamHub
from wcs.cluster.relay import RELAY_PROVIDER, Relays

pytestmark = pytest.mark.asyncio

TRACKS = {"video": TrackInfo("video", "H264", 90000, payload_type=96)}


SPS = bytes.fromhex("6742c00bda0507e8400000030040000005")
PPS = bytes.fromhex("68ce0fc8")


def rtp(seq: int, nal: bytes = b"\x41\x9a", marker: bool = True) -> bytes:
    """One video packet of one NAL unit (default: a non-IDR slice), timestamp = seq."""
    head = bytes([0x80, (0x80 if marker else 0) | 96])
    return head + seq.to_bytes(2, "big") + (seq * 3000).to_bytes(4, "big") + bytes(4) + nal


def keyframe(pub: Any, seq: int) -> None:
    """SPS, PPS and an IDR slice of one picture (the last packet carries the marker)."""
    for i, nal in enumerate((SPS, PPS, b"\x65\x88\x84")):
        packet = rtp(seq, nal, marker=i == 2)
        packet = packet[:2] + (seq + i).to_bytes(2, "big") + packet[4:]
        pub.feed_rtp("video", packet, seq * 3000)


class Sink:
    def __init__(self) -> None:
        self.packets: list[bytes] = []
        self.ended: str | None = None

    def on_rtp(self, kind: str, packet: bytes) -> None:
        self.packets.append(packet)

    def on_stream_end(self, reason: str) -> None:
        self.ended = reason


gone: set[str] = set()  # stream names the fake registry no longer holds


async def make_node(node_id: str, nodes: dict[str, Relays], viewers: set[Any]) -> Relays:
    hub = StreamHub()
    relays = Relays(
        node_id,
        hub,
        auth=True,
        grace=60,
        max_relays=10,
        open_timeout=1,
        in_use=lambda stream: stream in viewers,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    await relays.start(sock, "127.0.0.1")

    async def request(node: str, op: str, args: dict[str, Any]) -> dict[str, Any]:
        target = nodes[node]
        return await (target.open_for(args) if op == "relay_open" else target.close_for(args))

    async def owner_of(name: str) -> str | None:
        return "A" if name.startswith("s") and name not in gone else None

    relays.request = request
    relays.owner_of = owner_of
    relays.live = lambda: set(nodes)
    nodes[node_id] = relays
    return relays


async def until(check: Any) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_one_relay_per_edge_and_coalesced_keyframe_requests() -> None:
    nodes: dict[str, Relays] = {}
    viewers: set[Any] = set()
    a = await make_node("A", nodes, viewers)
    b = await make_node("B", nodes, viewers)
    asked = []
    pub = a.hub.publish(
        "s1",
        call_id="c1",
        app_key="app",
        tracks=TRACKS,
        control=PublisherControl(request_keyframe=lambda: asked.append(1)),
    )
    copies = await asyncio.gather(b.resolve("s1"), b.resolve("s1"))
    assert copies[0] is copies[1] is not None
    copy = copies[0]
    assert copy.provider == RELAY_PROVIDER and copy.app_key == "app"
    assert a.counts() == (1, 0) and b.counts() == (0, 1)
    # The origin sends a keyframe and a frame: the edge's copy caches them like a local
    # stream does, so viewers joining later on the edge start with that keyframe.
    keyframe(pub, 10)
    pub.feed_rtp("video", rtp(13), 13 * 3000)
    pub.feed_rtp("video", rtp(14), 14 * 3000)
    await until(lambda: copy.keyframes == 1 and len(copy.cached_packets()) == 5)
    sinks = [Sink(), Sink()]
    for sink in sinks:
        copy.subscribe_packets(sink)
        viewers.add(copy)
    assert all(len(s.packets) == 5 and s.packets[0][12:] == SPS for s in sinks)
    pub.feed_rtp("video", rtp(15), 15 * 3000)
    await until(lambda: all(len(s.packets) == 6 for s in sinks))
    assert sinks[0].packets[-1] == rtp(15)
    # Five viewers' PLIs in a burst: one request reaches the origin's publisher.
    for _ in range(5):
        copy.request_keyframe()
    await until(lambda: asked)
    await asyncio.sleep(0.05)
    assert asked == [1]
    # The origin's stream ends: the edge's copy ends too (UNPUBLISHED, not FAILED).
    pub.unpublish("Call ended")
    await until(lambda: all(s.ended for s in sinks))
    assert copy.status is StreamStatus.UNPUBLISHED and b.counts() == (0, 0)
    a.close()
    b.close()


async def test_dead_origin_fails_the_copy_and_chains_do_not_loop() -> None:
    nodes: dict[str, Relays] = {}
    viewers: set[Any] = set()
    a = await make_node("A", nodes, viewers)
    b = await make_node("B", nodes, viewers)
    c = await make_node("C", nodes, viewers)
    c.upstream = "B"
    a.hub.publish("s2", call_id=None, app_key="app", tracks=TRACKS)
    on_c = await c.resolve("s2")
    assert on_c is not None and b.hub.get("s2") is not None  # C <- B <- A
    assert (a.counts(), b.counts(), c.counts()) == ((1, 0), (1, 1), (0, 1))
    with pytest.raises(ValueError, match="relay loop"):
        await b.open_for({"name": "s2", "relay": "00" * 8, "host": "h", "port": 1, "path": ["B"]})
    # A copy silent since the last sweep whose origin still holds the stream stays (a call
    # on hold is silent); one whose stream the registry no longer has ends.
    b.prune({"A", "B", "C"})
    await asyncio.sleep(0.05)
    assert b.hub.get("s2") is not None and b.counts()[1] == 1
    c.prune({"A", "B", "C"})
    c.prune({"B", "C"})  # A's heartbeat is gone
    assert on_c.status is StreamStatus.FAILED and on_c.info == "Node A failed"
    gone.add("s2")  # the origin's END never arrived, the registry has no s2 any more
    b.prune({"A", "B", "C"})
    await until(lambda: b.hub.get("s2") is None)
    assert b.counts() == (0, 0)
    for relays in (a, b, c):
        relays.close()
