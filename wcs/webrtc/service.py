"""Browsers as one part of the server: viewers, publishers, WCS signaling (ws/wss), WHEP, WHIP.

The composition root builds one :class:`PlaybackService` from the settings and the stream
hub, lets it add its HTTP routes, then starts and closes it with the rest.
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING

from wcs import netaddr
from wcs.config import Settings
from wcs.limits import Quota, fit_to_descriptors
from wcs.rest.router import Router
from wcs.rest.server import WebSocketServer

from .certificate import Certificate
from .fanout import WorkerPool
from .fanout_worker import WorkerConfig
from .publisher import Ingest
from .transport import PeerSettings
from .viewer import HookSink, Playback
from .whep import add_whep_routes
from .whip import add_whip_routes
from .ws_signaling import SignalingServer

if TYPE_CHECKING:
    from wcs.app.streams import StreamHub

log = logging.getLogger(__name__)


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


class PlaybackService:
    def __init__(
        self,
        settings: Settings,
        hub: StreamHub,
        public_ip: str,
        hooks: HookSink | None = None,
    ) -> None:
        s = settings
        peers = PeerSettings(
            Certificate.generate(),
            bind_ip=s.bind_ip,
            public_ip=public_ip,
            port_range=(s.media_port_from, s.media_port_to),
            ice_timeout=s.webrtc_ice_timeout,
            consent_timeout=s.webrtc_consent_timeout,
        )
        self.workers: WorkerPool | None = None
        if s.webrtc_workers > 0:
            config = WorkerConfig.of(peers, s.log_level, s.event_loop)
            self.workers = WorkerPool(s.webrtc_workers, config)
        self.playback = Playback(hub, peers, hooks=hooks, workers=self.workers)
        self.ingest = Ingest(
            hub,
            peers,
            jitter_latency=s.jitter_buffer_latency_ms / 1000 if s.jitter_buffer else None,
            reorder_latency=s.frame_reorder_ms / 1000,
            vp8_keyframe_interval=s.vp8_keyframe_interval,
            vp8_queue=s.vp8_transcode_queue,
        )
        # per source address, WebSocket plays and WHEP viewers together
        self.viewer_quota = Quota("viewers", 0, s.max_viewers_per_ip)
        self.signaling = SignalingServer(
            self.playback,
            ingest=self.ingest,
            server_address=netaddr.hostport(public_ip, s.ws_port),
            max_viewers_per_session=s.ws_max_viewers_per_session,
            viewer_quota=self.viewer_quota,
        )
        sessions = Quota(  # ws and wss together
            "ws_sessions",
            fit_to_descriptors("ws_sessions", s.ws_max_sessions),
            s.ws_max_sessions_per_ip,
        )
        self.ws = WebSocketServer(
            self.signaling.handle,
            host=s.bind_ip,
            port=s.ws_port,
            auth=s.rest_auth,
            quota=sessions,
            max_message=s.ws_max_message,
            fragment_timeout=s.ws_fragment_timeout,
        )
        self.wss: WebSocketServer | None = None
        if s.tls_cert and s.tls_key:
            self.wss = WebSocketServer(
                self.signaling.handle,
                host=s.bind_ip,
                port=s.wss_port,
                auth=s.rest_auth,
                ssl_context=tls_context(s.tls_cert, s.tls_key),
                quota=sessions,
                max_message=s.ws_max_message,
                fragment_timeout=s.ws_fragment_timeout,
            )

    def add_routes(self, router: Router) -> None:
        add_whep_routes(router, self.playback, self.viewer_quota)
        add_whip_routes(router, self.ingest)

    async def start(self) -> None:
        if self.workers is not None:
            await self.workers.start()
        await self.ws.start()
        if self.wss is not None:
            await self.wss.start()
        log.info(
            "playback: ws %d%s, WHEP and WHIP on the HTTP port, %s",
            self.ws.port,
            f", wss {self.wss.port}" if self.wss else "",
            f"{len(self.workers.workers)} media workers" if self.workers else "viewers in-process",
        )

    async def close(self) -> None:
        """Listeners first (no new viewers), then every viewer, then the workers."""
        await self.ws.close()
        if self.wss is not None:
            await self.wss.close()
        await self.ingest.close()
        await self.playback.close()
        if self.workers is not None:
            await self.workers.close()
