"""Joins a :class:`wcs.server.Server` to the cluster (only built with ``cluster_redis_url``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wcs.cluster.node import ClusterNode
from wcs.cluster.registry import STREAM
from wcs.cluster.relay import Relays
from wcs.cluster.rest_routing import ClusterRest
from wcs.observability.metrics import REGISTRY, Sample
from wcs.rtp.ports import MediaPorts

if TYPE_CHECKING:
    from wcs.server import Server


class Cluster:
    """The node, its REST routing and its relays, wired to the server's parts."""

    def __init__(self, server: Server) -> None:
        s = server.settings
        self.server = server
        playback = server.playback.playback
        self.relays = Relays(
            "",
            server.streams,
            auth=s.cluster_relay_auth == "mac",
            grace=s.cluster_relay_grace,
            max_relays=s.cluster_max_relays,
            open_timeout=s.cluster_rpc_timeout / 2,
            in_use=lambda stream: any(v.stream is stream for v in playback.viewers.values()),
            upstream=s.cluster_upstream,
        )
        self.node = ClusterNode(s, s.http_port, ("", 0))
        self.relays.node_id = self.node.node_id
        server.hooks.node_id = self.node.node_id
        self.relays.live = lambda: set(self.node.live)
        self.relays.registry_ok = lambda: not self.node.degraded
        self.node.relays = self.relays
        self.relays.owner_of = self._owner_of
        self.relays.request = self.node.rpc.request
        self.node.handle("relay_open", self.relays.open_for)
        self.node.handle("relay_close", self.relays.close_for)
        self.node.load = self._load
        self.node.registrations = lambda: {
            r.registration_id: r.to_json() for r in server.registrations.all()
        }
        self.rest = ClusterRest(self.node)
        self.rest.install(server.router)
        server.calls.watch(self.node.on_call)
        server.streams.watch(self.node.on_stream)
        if s.node_role != "origin":  # an origin-only node serves its own streams only
            playback.remote = self.relays.resolve
        playback.on_viewer_gone = self.relays.check_idle
        ingest = server.playback.ingest
        ingest.claim = self._claim_stream
        ingest.release = lambda name: self.node.release(STREAM, name)
        self._ports: MediaPorts | None = None
        REGISTRY.collect(
            "wcs_cluster_nodes",
            "Live nodes of the cluster (as of the last sweep)",
            "gauge",
            lambda: [Sample((), float(len(self.node.live)))],
        )
        REGISTRY.collect(
            "wcs_cluster_redis_up",
            "1 while Redis answers, 0 while degraded",
            "gauge",
            lambda: [Sample((), 0.0 if self.node.degraded else 1.0)],
        )
        REGISTRY.collect(
            "wcs_cluster_relays", "Relays by this node's role in them", "gauge",
            self._relay_samples, ("role",),
        )  # fmt: skip

    def _relay_samples(self) -> list[Sample]:
        senders, receivers = self.relays.counts()
        return [Sample(("origin",), float(senders)), Sample(("edge",), float(receivers))]

    async def _claim_stream(self, name: str) -> str | None:
        """A WebRTC/WHIP publisher's name, taken cluster-wide (Redis down: not checked)."""
        if self.node.degraded:
            return None
        try:
            return await self.node.claim(STREAM, name)
        except Exception:
            return None

    async def _owner_of(self, name: str) -> str | None:
        if self.node.degraded:
            return None
        return await self.node.store.owner(STREAM, name)

    def _load(self) -> tuple[int, int, int, int]:
        srv = self.server
        return (
            len(srv.calls.all()),
            len(srv.streams.all()),
            len(srv.playback.playback.viewers),
            sum(self.relays.counts()),
        )

    async def start(self) -> None:
        self._ports = self.server.ports.allocate_pair(rtcp_mux=True)
        await self.relays.start(self._ports.rtp_socket, self.server.public_ip)
        self.node.info.relay_host, self.node.info.relay_port = self.relays.addr
        await self.node.start()

    async def close(self) -> None:
        self.relays.close()
        await self.node.close()
        if self._ports is not None:
            self._ports.release()

    def health(self) -> dict[str, Any]:
        senders, receivers = self.relays.counts()
        host, port = self.relays.addr
        relay = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        return {**self.node.health(), "relay": relay, "relaysOut": senders, "relaysIn": receivers}
