"""Origin → edge relays on one UDP socket per node (from the media port range).

Edge side (:meth:`Relays.resolve`): a viewer asks for a stream this node does not publish;
its origin is looked up in Redis and asked (RPC ``relay_open``) to send it here. The
receiver is registered *before* asking, so the origin's first datagrams (the cached
keyframe's packets) are kept until the answer brings the tracks; then the stream is published
on this node's hub (mediaProvider ``Relay``) and every local viewer is an ordinary
subscriber of it. When the last viewer has gone for ``cluster_relay_grace``, the relay is
closed (``relay_close``). Keyframe requests of the local viewers go up coalesced.

Origin side (``relay_open``): the relay is one packet subscriber of the stream, sending each
packet once to the edge, whatever its number of viewers.

Chains: an edge with ``cluster_upstream`` pulls from that node instead of the origin; the
upstream, not holding the stream, pulls it itself first (from its own upstream or the
origin) and relays its copy. Each request carries the chain's path so far, and a node
already on it refuses: no loop can form. A copy that feeds a relay further down is in use
like one with viewers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from wcs.app.stream import PublisherControl, Stream, StreamStatus, Subscription
from wcs.app.streams import Publication, StreamHub
from wcs.cluster.registry import dead_node_info
from wcs.cluster.relay_feed import RelayFeed
from wcs.cluster.relay_wire import (
    END,
    KEYFRAME,
    KINDS,
    RELAY_PROVIDER,
    TYPE_OF,
    KeyframeGate,
    RelayCodec,
    peek,
    tracks_from_json,
    tracks_to_json,
)
from wcs.limits import Quota
from wcs.observability.metrics import REGISTRY

log = logging.getLogger("wcs.cluster.relay")

KEYFRAME_INTERVAL = 0.5  # at most one keyframe request up per relay in this time (s)
EARLY_PACKETS = 2000  # kept while the origin's answer is on its way
END_COPIES = 3  # END is sent this many times (UDP; the sweep covers the rest)

PACKETS = REGISTRY.counter(
    "wcs_cluster_relay_packets_total",
    "Relay datagrams: sent (origin), received and dropped (edge: unknown relay or bad tag)",
    ("direction",),
)
_SENT, _RECEIVED, _DROPPED = (PACKETS.labels(d) for d in ("sent", "received", "dropped"))
KEYFRAMES_UP = REGISTRY.counter(
    "wcs_cluster_relay_keyframe_requests_total",
    "Keyframe requests a relay's edge sent up to its origin (after coalescing)",
)

OwnerLookup = Callable[[str], Awaitable[str | None]]
Request = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]


class RelaySender:
    """Origin side: a packet sink of the stream that sends each packet once to the edge."""

    def __init__(
        self, relays: Relays, stream: Stream, codec: RelayCodec, addr: tuple[str, int], edge: str
    ) -> None:
        self.relays = relays
        self.stream = stream
        self.codec = codec
        self.addr = addr
        self.edge = edge
        self.subscription: Subscription | None = None

    def on_rtp(self, kind: str, packet: bytes) -> None:
        self.relays.sendto(self.codec.seal(TYPE_OF[kind], packet), self.addr)
        _SENT.inc()

    def on_stream_end(self, reason: str) -> None:
        # The status travels with the reason: a failure upstream is a failure downstream.
        flag = b"F" if self.stream.status is StreamStatus.FAILED else b"U"
        for _ in range(END_COPIES):
            self.relays.sendto(self.codec.seal(END, flag + reason.encode()[:200]), self.addr)
            _SENT.inc()
        self.subscription = None
        self.relays.drop_sender(self)


class RelayReceiver:
    """Edge side: the relayed stream's publisher on this node."""

    def __init__(
        self, relays: Relays, name: str, origin: str, source: str, codec: RelayCodec
    ) -> None:
        self.relays = relays
        self.name = name
        self.origin = origin  # the node that publishes the stream
        self.source = source  # the node we get it from (the origin, or an upstream edge)
        self.codec = codec
        self.origin_addr: tuple[str, int] | None = None
        self.publication: Publication | None = None
        self.feed: RelayFeed | None = None
        self.early: list[tuple[str, bytes]] = []
        self.gate = KeyframeGate(KEYFRAME_INTERVAL)
        self.idle: asyncio.TimerHandle | None = None
        self.heard = False  # a datagram since the last sweep

    def on_media(self, ptype: int, payload: bytes) -> None:
        self.heard = True
        kind = KINDS.get(ptype)
        if kind is None:
            if ptype == END and self.publication is not None:
                failed = payload[:1] == b"F"
                status = StreamStatus.FAILED if failed else StreamStatus.UNPUBLISHED
                self.relays.end(self, payload[1:].decode(errors="replace"), status)
            return
        if self.feed is None:
            if len(self.early) < EARLY_PACKETS:
                self.early.append((kind, payload))
            return
        self.feed.receive(kind, payload, self.relays.loop.time())

    def publish(self, pub: Publication) -> None:
        self.publication = pub
        now = self.relays.loop.time()
        feed = self.feed = RelayFeed(pub, pub.stream.tracks, now, self.request_keyframe)
        early, self.early = self.early, []
        for kind, payload in early:
            feed.receive(kind, payload, now)

    def request_keyframe(self) -> None:
        if self.origin_addr is None or not self.gate.allow(self.relays.loop.time()):
            return
        KEYFRAMES_UP.inc()
        self.relays.sendto(self.codec.seal(KEYFRAME, b""), self.origin_addr)


class Relays(asyncio.DatagramProtocol):
    def __init__(
        self,
        node_id: str,
        hub: StreamHub,
        *,
        auth: bool,
        grace: float,
        max_relays: int,
        open_timeout: float,
        in_use: Callable[[Stream], bool],
        upstream: str = "",
    ) -> None:
        self.node_id = node_id
        self.hub = hub
        self.auth = auth
        self.grace = grace
        self.open_timeout = open_timeout
        self._viewed = in_use
        self.upstream = upstream
        self.live: Callable[[], set[str]] = set
        self.registry_ok: Callable[[], bool] = lambda: True  # False: Redis away, trust nothing
        self.quota = Quota("cluster_relays", max_relays)
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.DatagramTransport | None = None
        self.senders: dict[bytes, RelaySender] = {}
        self.receivers: dict[bytes, RelayReceiver] = {}
        self._opening: dict[str, asyncio.Task[Stream | None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.owner_of: OwnerLookup | None = None
        self.request: Request | None = None
        self.addr: tuple[str, int] = ("", 0)

    async def start(self, sock: socket.socket, public_ip: str) -> None:
        transport, _ = await self.loop.create_datagram_endpoint(lambda: self, sock=sock)
        self.transport = transport
        self.addr = (public_ip, sock.getsockname()[1])

    def close(self) -> None:
        for receiver in list(self.receivers.values()):
            self.end(receiver, "Stopped by shutdown", StreamStatus.UNPUBLISHED, notify=False)
        for sender in list(self.senders.values()):
            if sender.subscription is not None:
                sender.subscription.cancel()
            sender.on_stream_end("Stopped by shutdown")  # tells the edge, drops the sender
        if self.transport is not None:
            self.transport.close()

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        head = peek(data)
        if head is None:
            _DROPPED.inc()
            return
        ptype, relay_id = head
        if ptype == KEYFRAME:
            sender = self.senders.get(relay_id)
            if sender is not None and sender.codec.open(data) is not None:
                sender.stream.request_keyframe()
                return
        else:
            receiver = self.receivers.get(relay_id)
            opened = receiver.codec.open(data) if receiver is not None else None
            if receiver is not None and opened is not None:
                _RECEIVED.inc()
                receiver.on_media(*opened)
                return
        _DROPPED.inc()

    def counts(self) -> tuple[int, int]:
        """(relays served as origin, relays received as edge)."""
        return len(self.senders), len(self.receivers)

    # ------------------------------------------------------------------ edge side
    def in_use(self, stream: Stream) -> bool:
        """Viewers here, or a relay further down the chain, still need ``stream``."""
        return self._viewed(stream) or any(s.stream is stream for s in self.senders.values())

    async def resolve(self, name: str, path: tuple[str, ...] = ()) -> Stream | None:
        """The stream ``name`` on this hub, relayed here from its origin when needed."""
        stream = self.hub.get(name)
        if stream is not None and stream.published:
            return stream
        task = self._opening.get(name)
        if task is None:
            task = self.loop.create_task(self._open(name, (*path, self.node_id)))
            self._opening[name] = task
            task.add_done_callback(lambda _t: self._opening.pop(name, None))
        return await asyncio.shield(task)

    def _source(self, origin: str, path: tuple[str, ...]) -> str:
        up = self.upstream
        if up and up != origin and up not in path and up in self.live():
            return up
        return origin

    async def _open(self, name: str, path: tuple[str, ...]) -> Stream | None:
        if self.owner_of is None or self.request is None:
            return None
        origin = await self.owner_of(name)
        if origin is None or origin in path:
            return None
        source = self._source(origin, path)
        relay_id = secrets.token_bytes(8)
        key = secrets.token_bytes(32) if self.auth else None
        receiver = RelayReceiver(self, name, origin, source, RelayCodec(relay_id, key))
        self.receivers[relay_id] = receiver
        args = {
            "name": name,
            "relay": relay_id.hex(),
            "key": key.hex() if key else None,
            "host": self.addr[0],
            "port": self.addr[1],
            "node": self.node_id,
            "path": list(path),
        }
        try:
            answer = await self.request(source, "relay_open", args)
            if self.hub.get(name) is not None:
                raise RuntimeError(f"stream {name} appeared here meanwhile")
            control = PublisherControl(request_keyframe=receiver.request_keyframe)
            pub = self.hub.publish(
                name,
                call_id=None,
                app_key=str(answer.get("appKey") or "defaultApp"),
                tracks=tracks_from_json(answer.get("tracks") or []),
                control=control,
                provider=RELAY_PROVIDER,
            )
        except Exception as exc:
            self.receivers.pop(relay_id, None)
            log.warning("relay of %s from %s refused: %s", name, source, exc)
            with contextlib.suppress(Exception):
                await self.request(source, "relay_close", {"relay": relay_id.hex()})
            raise
        receiver.origin_addr = (str(answer["host"]), int(answer["port"]))
        receiver.publish(pub)
        log.info("relay %s: %s from %s (%s)", relay_id.hex(), name, source, answer["host"])
        self.check_idle(pub.stream)  # a viewer that never connects must not keep it
        return pub.stream

    def check_idle(self, stream: Stream) -> None:
        """A viewer of ``stream`` left (or none came yet): close its relay after the grace."""
        receiver = self._receiver_of(stream)
        if receiver is None or self.in_use(stream):
            return
        if receiver.idle is not None:
            receiver.idle.cancel()
        receiver.idle = self.loop.call_later(self.grace, self._idle_expired, receiver)

    def _idle_expired(self, receiver: RelayReceiver) -> None:
        receiver.idle = None
        pub = receiver.publication
        if pub is not None and not self.in_use(pub.stream):
            self.end(receiver, "Relay idle", StreamStatus.UNPUBLISHED)

    def _receiver_of(self, stream: Stream) -> RelayReceiver | None:
        for receiver in self.receivers.values():
            if receiver.publication is not None and receiver.publication.stream is stream:
                return receiver
        return None

    def end(
        self, receiver: RelayReceiver, info: str, status: StreamStatus, *, notify: bool = True
    ) -> None:
        if self.receivers.pop(receiver.codec.relay_id, None) is None:
            return
        if receiver.idle is not None:
            receiver.idle.cancel()
        if receiver.publication is not None:
            receiver.publication.unpublish(info, status)
        log.info("relay %s of %s: ended (%s)", receiver.codec.relay_id.hex(), receiver.name, info)
        if notify and self.request is not None:
            request = self.request(
                receiver.source, "relay_close", {"relay": receiver.codec.relay_id.hex()}
            )
            self._spawn(request)

    async def _still_published(self, receiver: RelayReceiver) -> None:
        """A silent copy (a call on hold is silent too): ended only if its origin no longer
        holds the stream."""
        if self.owner_of is None or not self.registry_ok():
            return
        if await self.owner_of(receiver.name) != receiver.origin:
            self.end(receiver, "Stopped by publisher stop", StreamStatus.UNPUBLISHED)

    def _spawn(self, aw: Awaitable[Any]) -> None:
        task = self.loop.create_task(_quietly(aw))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ origin side
    async def open_for(self, args: dict[str, Any]) -> dict[str, Any]:
        """RPC ``relay_open`` from an edge: start sending stream ``name`` there."""
        name = str(args["name"])
        path = tuple(str(n) for n in args.get("path") or ())
        if self.node_id in path:
            raise ValueError(f"relay loop: {' -> '.join((*path, self.node_id))}")
        stream = self.hub.get(name)
        if stream is None or not stream.published:
            stream = await self.resolve(name, path)  # an upstream edge: pull it first
        if stream is None or not stream.published:
            raise ValueError(f"stream {name!r} is not published on node {self.node_id}")
        edge = str(args.get("node") or args["host"])
        if not self.quota.admit(edge):
            raise ValueError(f"node {self.node_id}: relay limit reached")
        try:
            tracks = await stream.wait_tracks(self.open_timeout)
        except TimeoutError:
            self.quota.release(edge)
            raise ValueError(f"stream {name!r} has no tracks yet") from None
        key = bytes.fromhex(args["key"]) if args.get("key") else None
        codec = RelayCodec(bytes.fromhex(str(args["relay"])), key)
        sender = RelaySender(self, stream, codec, (str(args["host"]), int(args["port"])), edge)
        self.senders[codec.relay_id] = sender
        sender.subscription = stream.subscribe_packets(sender)
        log.info("relay %s: %s to %s", codec.relay_id.hex(), name, sender.addr)
        return {
            "tracks": tracks_to_json(tracks),
            "appKey": stream.app_key,
            "host": self.addr[0],
            "port": self.addr[1],
        }

    async def close_for(self, args: dict[str, Any]) -> dict[str, Any]:
        sender = self.senders.get(bytes.fromhex(str(args["relay"])))
        if sender is not None:
            if sender.subscription is not None:
                sender.subscription.cancel()
            self.drop_sender(sender)
        return {}

    def drop_sender(self, sender: RelaySender) -> None:
        if self.senders.pop(sender.codec.relay_id, None) is not None:
            self.quota.release(sender.edge)
            log.info("relay %s of %s: closed", sender.codec.relay_id.hex(), sender.stream.name)
            self.check_idle(sender.stream)  # a relayed copy that fed only this relay

    # ------------------------------------------------------------------ failures
    def prune(self, live: set[str]) -> None:
        """After a sweep: relays from or to a node without a heartbeat end (FAILED here); a
        copy silent since the last sweep is checked against the registry (its END lost?)."""
        for receiver in list(self.receivers.values()):
            for node in (receiver.origin, receiver.source):
                if node not in live:
                    info = dead_node_info(node)
                    self.end(receiver, info, StreamStatus.FAILED, notify=False)
                    break
            else:
                if not receiver.heard and receiver.publication is not None:
                    self._spawn(self._still_published(receiver))
                receiver.heard = False
        for sender in list(self.senders.values()):
            if sender.edge not in live:
                if sender.subscription is not None:
                    sender.subscription.cancel()
                self.drop_sender(sender)


async def _quietly(aw: Awaitable[Any]) -> None:
    with contextlib.suppress(Exception):
        await aw
