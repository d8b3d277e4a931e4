"""Ingest: browsers and WHIP clients publishing streams into the hub.

:meth:`Ingest.publish` reserves the name in the hub first (a name already published is
refused at once: 409 for WHIP, FAILED for the WCS protocol), negotiates, starts a
:class:`~wcs.webrtc.ingest.PublisherPeer` and returns the answer. The stream is
``PUBLISHING`` from then on, as a WCS publisher's is once ``setRemoteSDP`` is sent; its
tracks are the negotiated codecs (SPS/PPS, size are learnt from the first keyframe).

One :class:`Publisher` per publishing peer: its stream's :class:`PublisherControl` asks the
peer for keyframes (PLI) and gives its receive statistics; ``/stream/terminate`` stops it.
Every way out -- :meth:`Publisher.stop` (unPublishStream, WHIP DELETE, WebSocket closed),
the peer failing (ICE/DTLS timeout, consent expiry: FAILED with the peer's info), the peer
closing DTLS, server shutdown -- unpublishes the stream (its StreamStatusEvent hook comes
from the hub), frees the peer's port and calls ``on_end(status, info)`` once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from wcs.app.media.outlet import HubOutlet
from wcs.app.stream_feed import StreamFeed
from wcs.app.streams import PublisherControl, StreamHub, StreamStatus, TrackInfo
from wcs.app.vp8_stage import DEFAULT_QUEUE, Vp8Stage
from wcs.limits import Declared

from . import events
from .certificate import Certificate
from .ending import EndCallback, EndsOnce, Registry
from .ingest import PublisherPeer
from .offer import OfferError
from .transport import PeerSettings

log = logging.getLogger(__name__)

UNPUBLISHED_BY_USER = "Unpublished by user"
UNPUBLISHED_BY_SESSION = "Unpublished by session disconnect"
UNPUBLISHED_BY_SHUTDOWN = "Unpublished by server shutdown"
UNPUBLISHED_BY_REST = "Unpublished by rest /terminate"
STREAM_NAME_TAKEN = "Stream name is already in use"  # the WebSDK's STREAM_NAME_ALREADY_IN_USE


class PublishError(Exception):
    """A publish request that cannot be served; ``info`` is the WCS info string."""

    def __init__(self, info: str, http_status: int = 400) -> None:
        super().__init__(info)
        self.info = info
        self.http_status = http_status


def ingest_tracks(peer: PublisherPeer) -> dict[str, TrackInfo]:
    tracks: dict[str, TrackInfo] = {}
    for kind, session in peer.sessions.items():
        codec = session.codec
        name = "H264" if codec.name.lower() == "h264" else codec.name
        if name.lower() == "opus":
            name = "opus"
        channels = codec.channels or 1
        tracks[kind] = TrackInfo(
            kind, name, codec.clock_rate, channels, codec.fmtp, codec.payload_type
        )
        if name.upper() == "VP8":
            tracks[kind].frame_codec = "H264"  # frame sinks get it transcoded (Vp8Stage)
    return tracks


class Publisher(EndsOnce):
    """One publishing peer and its stream."""

    def __init__(
        self,
        ingest: Ingest,
        name: str,
        provider: str,
        feed: StreamFeed,
        on_end: EndCallback | None,
    ) -> None:
        super().__init__(ingest.background, on_end)
        self.ingest = ingest
        self.name = name
        self.label = f"publisher {provider} of {name}"
        self.provider = provider
        self.feed = feed
        self.peer: PublisherPeer | None = None
        self.outlet: HubOutlet | None = None
        self.media_session_id = ""
        self.vp8: Vp8Stage | None = None  # a VP8 publisher's H.264 for frame sinks

    def _on_peer_state(self, event: events.PeerStateChanged) -> None:
        if event.state == events.FAILED:
            self.close_soon(StreamStatus.FAILED, event.info or events.DTLS_ERROR)
        elif event.state == events.CLOSED and not self._closing:
            self.close_soon(StreamStatus.UNPUBLISHED, UNPUBLISHED_BY_USER)
        elif event.state == events.CONNECTED:
            log.info(
                "publisher %s of %s: connected (%s)",
                self.provider,
                self.name,
                self.peer.srtp_profile if self.peer else "",
            )

    def _request_keyframe(self) -> None:
        if self.peer is not None:
            self.peer.request_keyframe()

    def _video_frames(self, wanted: bool) -> None:
        if self.vp8 is not None:
            self.vp8.set_active(wanted)

    def _stats(self) -> dict[str, dict[str, object]]:
        return self.peer.stats() if self.peer is not None else {}

    def _terminate(self) -> None:
        self.close_soon(StreamStatus.UNPUBLISHED, UNPUBLISHED_BY_REST)

    async def stop(
        self, status: StreamStatus = StreamStatus.UNPUBLISHED, info: str = UNPUBLISHED_BY_USER
    ) -> None:
        """Idempotent: unpublish, free the peer and its port, tell the owner once."""
        await self.close(status, info)

    async def _release(self) -> None:
        self.feed.stream = None
        if self.vp8 is not None:
            self.vp8.close()
        if self.outlet is not None:
            self.outlet.unpublish(self.info or "", self.status == StreamStatus.FAILED)
        if self.peer is not None:
            await self.peer.close()

    def _forget(self) -> None:
        self.ingest._forget(self)


class Ingest(Registry[Publisher]):
    """Makes and owns every publisher; the one place WS signaling and WHIP ask to publish."""

    def __init__(
        self,
        hub: StreamHub,
        peers: PeerSettings | None = None,
        *,
        jitter_latency: float | None = None,
        reorder_latency: float | None = None,
        vp8_keyframe_interval: float = 2.0,
        vp8_queue: int = DEFAULT_QUEUE,
    ) -> None:
        self.hub = hub
        self.vp8_keyframe_interval = vp8_keyframe_interval
        self.vp8_queue = vp8_queue
        Declared("vp8_transcode_queue", vp8_queue)
        # The calls' jitter buffer setting: with it, NACKed video packets that come back
        # within the latency are put back in place for recording and RTMP as well.
        self.jitter_latency = jitter_latency
        # Without it, the frame path's reordering (``frame_reorder_ms``): retransmissions
        # come late, and the depacketizer would drop them.
        self.reorder_latency = reorder_latency
        self.peers = peers or PeerSettings(Certificate.generate())
        self.publishers: dict[str, Publisher] = {}  # by mediaSessionId
        super().__init__(self.publishers, StreamStatus.UNPUBLISHED)
        # Cluster (wcs.cluster): take the name cluster-wide first; returns the node that
        # holds it instead (None: ours). ``release`` gives it back if publishing fails.
        self.claim: Callable[[str], Awaitable[str | None]] | None = None
        self.release: Callable[[str], Awaitable[None]] | None = None

    async def publish(
        self,
        name: str,
        offer: str,
        *,
        provider: str = "WebRTC",
        app_key: str = "defaultApp",
        session_id: str | None = None,
        media_session_id: str | None = None,
        on_end: EndCallback | None = None,
    ) -> tuple[Publisher, str]:
        """Publish stream ``name`` from ``offer``; returns the publisher and the answer.

        Raises PublishError: the name taken (409), an unusable offer (400), no port (503).
        """
        if media_session_id is not None and self.hub.by_session(media_session_id) is not None:
            raise PublishError("MediaSessionId is already in use", 409)
        if self.hub.get(name) is not None:
            raise PublishError(STREAM_NAME_TAKEN, 409)
        feed = StreamFeed(time.monotonic())
        publisher = Publisher(self, name, provider, feed, on_end)
        try:
            peer = PublisherPeer(
                offer,
                feed,
                self.peers,
                on_state=publisher._on_peer_state,
                dtls_timeout=self.peers.ice_timeout,  # one "ICE/DTLS timeout" setting
                jitter_latency=self.jitter_latency,
                reorder_latency=self.reorder_latency,
            )
        except OfferError as exc:
            raise PublishError(str(exc), 400) from None
        publisher.peer = peer
        if self.claim is not None and await self.claim(name) is not None:
            await peer.close()
            raise PublishError(STREAM_NAME_TAKEN, 409)
        asks = PublisherControl(
            publisher._stats,
            publisher._request_keyframe,
            publisher._terminate,
            video_frames=publisher._video_frames,
        )
        outlet = HubOutlet(
            self.hub,
            name,
            asks,
            call_id=None,
            app_key=app_key,
            provider=provider,
            session_id=session_id,
            media_session_id=media_session_id,
        )
        publication = outlet.publish(ingest_tracks(peer))
        if publication is None:
            await peer.close()
            if self.release is not None:
                await self.release(name)
            raise PublishError(STREAM_NAME_TAKEN, 409)
        publisher.outlet = outlet
        publisher.media_session_id = publication.stream.media_session_id
        feed.stream = publication
        video = publication.stream.tracks.get("video")
        if video is not None and video.frame_codec is not None:
            publisher.vp8 = Vp8Stage(
                publication,
                name,
                publisher._request_keyframe,
                keyframe_interval=self.vp8_keyframe_interval,
                queue_limit=self.vp8_queue,
            )
            feed.stream = publisher.vp8
        self.publishers[publisher.media_session_id] = publisher
        try:
            answer = await peer.start()
        except OSError:
            await publisher.stop(StreamStatus.FAILED, events.ICE_ERROR)
            raise PublishError(events.ICE_ERROR, 503) from None
        publisher.status = StreamStatus.PUBLISHING
        log.info("publisher %s of %s: PUBLISHING on port %d", provider, name, peer.port)
        return publisher, answer

    async def stop(self, media_session_id: str, info: str = UNPUBLISHED_BY_USER) -> bool:
        return await super().stop(media_session_id, info)

    async def close(self) -> None:
        """Shutdown: every publisher ends (its owner is told), every port is freed."""
        await self._end_all(UNPUBLISHED_BY_SHUTDOWN)
