"""Playback: one :class:`Viewer` per browser, glue between a :class:`ViewerPeer` and a stream.

A viewer is a packet sink of its stream. It subscribes once its peer is connected (DTLS
done), so the first packets it forwards are the stream's cached keyframe; viewer PLI/FIR
become ``stream.request_keyframe()``. Every way out -- ``stop()`` (stopStream, WHEP
DELETE, WebSocket closed), the call ending ("Stopped by publisher stop"), the peer failing
(ICE timeout, consent expiry, DTLS error: FAILED with the peer's info) and server shutdown --
goes through :meth:`Viewer.close`, which frees the subscription, the transcoder seat, the
peer (and so its UDP port) and the ``/stream/find_all`` entry, and reports the end once.

:class:`Playback` makes viewers (and owns them): it looks the stream up, waits a bounded
time for its tracks, negotiates, starts the peer and returns the answer.

Each status change of a viewer (PLAYING, then STOPPED or FAILED) is posted once, in order,
as a ``StreamStatusEvent`` REST hook with the viewer's ``/stream/find_all`` entry, to the
viewer's appKey: its WebSocket session's (the ``connection`` message's), and for WHEP,
which has no session, the played stream's. A play refused before a viewer exists (``Stream
not found``, an unusable offer) is posted as FAILED with an entry of the same shape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from wcs.app.stream import StreamStatus
from wcs.cluster.relay_wire import RELAY_PROVIDER
from wcs.rest.views import refused_viewer_json, viewer_json
from wcs.sdp import parse_fmtp

from . import events
from .answer import SourceTrack
from .certificate import Certificate
from .ending import EndCallback, EndsOnce, Registry
from .fanout import RemotePeer, WorkerPool, WorkerRefused, needs_transcode
from .offer import OfferError
from .peer import ViewerPeer
from .transport import PeerSettings

if TYPE_CHECKING:
    from wcs.app.streams import Stream, StreamHub, TrackInfo

    from .transcode import OpusTranscoder

log = logging.getLogger(__name__)

STREAM_NOT_FOUND = "Stream not found"
STOPPED_BY_USER = "Stopped by user"
STOPPED_BY_PUBLISHER = "Stopped by publisher stop"
STOPPED_BY_SESSION = "Stopped by session disconnect"
STOPPED_BY_SHUTDOWN = "Stopped by server shutdown"
STOPPED_BY_REST = "Stopped by rest /terminate"
FAILED_BY_ERROR = "Failed by error"


class HookSink(Protocol):
    """Where status events go as REST hooks (:class:`wcs.app.hooks.HookPublisher`)."""

    def post(self, app_key: str | None, method: str, body: dict[str, Any]) -> None: ...


class PlaybackError(Exception):
    """A play request that cannot be served; ``info`` is the WCS info string."""

    def __init__(self, info: str, http_status: int = 400) -> None:
        super().__init__(info)
        self.info = info
        self.http_status = http_status


def source_tracks(tracks: Mapping[str, TrackInfo]) -> list[SourceTrack]:
    out = []
    for info in tracks.values():
        if info.kind not in ("audio", "video"):
            continue
        out.append(
            SourceTrack(
                info.kind, info.codec, info.clock_rate, parse_fmtp(info.fmtp), info.channels
            )
        )
    return out


class Viewer(EndsOnce):
    """One playing browser: a packet sink feeding its peer, and a /stream/find_all entry."""

    def __init__(
        self,
        playback: Playback,
        stream: Stream,
        peer: ViewerPeer | RemotePeer,
        media_session_id: str,
        *,
        provider: str,
        app_key: str,
        session_id: str | None,
        on_end: EndCallback | None,
    ) -> None:
        super().__init__(playback.background, on_end)
        self.playback = playback
        self.stream = stream
        self.peer = peer
        self.media_session_id = media_session_id
        self.label = f"viewer {media_session_id} of {stream.name}"
        self.provider = provider
        self.app_key = app_key
        self.session_id = session_id
        self.reported: list[str] = []  # statuses posted as hooks, in order (once each)
        self.created = time.time()
        self.connected_at: float | None = None
        # Ends the subscription (to the stream, or to the worker's relay of it).
        self._unsubscribe: Callable[[], None] | None = None
        self._transcoder: OpusTranscoder | None = None
        # The hot path: the stream calls on_rtp for every packet. Without transcoding it is
        # the peer's own send_rtp (no extra frame); with it, audio comes from the transcoder.
        self.on_rtp: Callable[[str, bytes], None] = _drop
        peer.on_state = self._on_peer_state
        peer.on_keyframe_request = stream.request_keyframe

    # --- PacketSink ---------------------------------------------------------------------

    def on_stream_end(self, reason: str) -> None:
        self._unsubscribe = None  # the stream has already forgotten us
        self.close_soon(*_ended(self.stream))

    def _video_only(self, kind: str, packet: bytes) -> None:
        if kind == "video" and isinstance(self.peer, ViewerPeer):
            self.peer.send_rtp(kind, packet)

    # --- life cycle ---------------------------------------------------------------------

    def _on_peer_state(self, event: events.PeerStateChanged) -> None:
        if event.state == events.CONNECTED:
            self._start_media()
        elif event.state == events.FAILED:
            self.close_soon(StreamStatus.FAILED, event.info or FAILED_BY_ERROR)
        elif event.state == events.CLOSED and not self._closing:
            # The viewer closed DTLS (RTCPeerConnection.close()).
            self.close_soon(StreamStatus.STOPPED, STOPPED_BY_USER)

    def _start_media(self) -> None:
        if self._closing:
            return
        self.connected_at = time.monotonic()
        peer = self.peer
        if isinstance(peer, RemotePeer):
            # Its worker sends: the cached keyframe's packets first, then the live ones.
            self._unsubscribe = peer.attach(self.stream)
        else:
            if peer.needs_audio_transcode:
                self.on_rtp = self._video_only
                self._transcoder = self.playback.transcoder_for(self.stream)
                self._transcoder.add(peer)
            else:
                self.on_rtp = peer.send_rtp
            # First delivers the cached keyframe's packets, then the live ones.
            self._unsubscribe = self.stream.subscribe_packets(self).cancel
        log.debug(
            "viewer %s connected (%s); stream %s has %s cached keyframe, %d keyframes so far",
            self.media_session_id,
            self.peer.srtp_profile,
            self.stream.name,
            "a" if self.stream.cached_keyframe is not None else "no",
            self.stream.keyframes,
        )

    def terminate(self) -> None:
        """/stream/terminate on this viewer's entry (WCS info string)."""
        self.close_soon(StreamStatus.STOPPED, STOPPED_BY_REST)

    def mark_playing(self) -> None:
        if self.status == StreamStatus.PENDING:
            self.status = StreamStatus.PLAYING
            self._report()

    def _report(self) -> None:
        """The current status as a StreamStatusEvent hook, once per status."""
        if self.status in self.reported:
            return
        self.reported.append(self.status)
        hooks = self.playback.hooks
        if hooks is not None and self.app_key:
            hooks.post(self.app_key, "StreamStatusEvent", viewer_json(self))

    async def close(
        self, status: StreamStatus = StreamStatus.STOPPED, info: str = STOPPED_BY_USER
    ) -> None:
        await super().close(status, info)

    async def _release(self) -> None:
        self.on_rtp = _drop
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._transcoder is not None and isinstance(self.peer, ViewerPeer):
            self._transcoder.remove(self.peer)
            self._transcoder = None
        await self.peer.close()

    def _forget(self) -> None:
        self.playback._forget(self)


def _drop(kind: str, packet: bytes) -> None:
    return None


def _ended(stream: Stream) -> tuple[StreamStatus, str]:
    """What a viewer is told when its stream ends: stopped by its publisher; a relayed
    stream whose origin node failed (cluster) is FAILED with that reason."""
    if stream.status is StreamStatus.FAILED and stream.provider == RELAY_PROVIDER and stream.info:
        return StreamStatus.FAILED, stream.info
    return StreamStatus.STOPPED, STOPPED_BY_PUBLISHER


class Playback(Registry[Viewer]):
    """Makes and owns every viewer; the one place WS signaling and WHEP ask to play."""

    def __init__(
        self,
        hub: StreamHub,
        peers: PeerSettings | None = None,
        *,
        tracks_timeout: float = 10.0,
        hooks: HookSink | None = None,
        workers: WorkerPool | None = None,
    ) -> None:
        self.hub = hub
        self.hooks = hooks
        # With media workers, viewers are served there (except those needing the Opus
        # transcode: the transcoder is per stream and in-process).
        self.workers = workers
        self.peers = peers or PeerSettings(Certificate.generate())
        self.tracks_timeout = tracks_timeout
        self.viewers: dict[str, Viewer] = {}
        super().__init__(self.viewers, StreamStatus.STOPPED)
        self.transcoders: dict[int, OpusTranscoder] = {}
        # A viewer subscribes only once connected; this tells the others the stream ended.
        self._watch = hub.watch(self._on_stream_changed)
        # Cluster (wcs.cluster.relay): a stream not published here, relayed from its origin
        # node; and the hook that closes an edge's relay once its last viewer has gone.
        self.remote: Callable[[str], Awaitable[Stream | None]] | None = None
        self.accepting = True  # False while the node drains (wcs.drain): new plays get 503
        self.on_viewer_gone: Callable[[Stream], None] | None = None

    def _on_stream_changed(self, stream: Stream) -> None:
        if stream.published:
            return
        for viewer in list(self.viewers.values()):
            if viewer.stream is stream:
                viewer.close_soon(*_ended(stream))

    async def play(
        self,
        name: str,
        offer: str,
        media_session_id: str,
        *,
        provider: str = "WebRTC",
        app_key: str | None = "defaultApp",
        session_id: str | None = None,
        on_end: EndCallback | None = None,
    ) -> tuple[Viewer, str]:
        """Start a viewer of stream ``name``; returns it and the answer SDP.

        Unknown or ended stream: PlaybackError("Stream not found", 404) -- we do not wait
        for a publisher that may never come (WCS parity, spec §1.10). ``app_key`` None (WHEP)
        means the stream's appKey. Every refusal but a duplicate ``media_session_id`` (that
        id belongs to a live viewer) is posted as a FAILED hook.
        """
        if media_session_id in self.viewers:
            raise PlaybackError("MediaSessionId is already in use", 409)
        if not self.accepting:
            raise PlaybackError("Node is draining", 503)

        def refuse(info: str, status: int) -> PlaybackError:
            key = app_key if app_key is not None else (stream.app_key if stream else None)
            self.report_refused(
                name, media_session_id, info, provider=provider, app_key=key, session_id=session_id
            )
            return PlaybackError(info, status)

        stream = self.hub.get(name)
        if (stream is None or not stream.published) and self.remote is not None:
            try:
                stream = await self.remote(name)
            except Exception as exc:
                raise refuse(f"{STREAM_NOT_FOUND}: origin node: {exc}", 503) from None
        if stream is None or not stream.published:
            stream = None  # an ended stream's appKey is not the viewer's business
            raise refuse(STREAM_NOT_FOUND, 404)
        try:
            tracks = await stream.wait_tracks(self.tracks_timeout)
        except TimeoutError:
            raise refuse(STREAM_NOT_FOUND, 404) from None
        if not stream.published:
            raise refuse(STREAM_NOT_FOUND, 404)
        try:
            peer = self._make_peer(offer, source_tracks(tracks))
        except OfferError as exc:
            raise refuse(str(exc), 400) from None
        except WorkerRefused as exc:  # no worker running
            raise refuse(exc.info, exc.status) from None
        viewer = Viewer(
            self,
            stream,
            peer,
            media_session_id,
            provider=provider,
            app_key=app_key if app_key is not None else stream.app_key,
            session_id=session_id,
            on_end=None,
        )
        self.viewers[media_session_id] = viewer
        try:
            if isinstance(peer, RemotePeer):
                answer = await peer.start_for(stream)
            else:
                answer = await peer.start()
        except WorkerRefused as exc:
            await viewer.close(StreamStatus.FAILED, exc.info)
            raise PlaybackError(exc.info, exc.status) from None
        except OSError:
            await viewer.close(StreamStatus.FAILED, events.ICE_ERROR)
            raise PlaybackError(events.ICE_ERROR, 503) from None
        if not stream.published:  # ended while we were binding
            # FAILED, as the player is told: its one status, hook included.
            await viewer.close(StreamStatus.FAILED, STREAM_NOT_FOUND)
            raise PlaybackError(STREAM_NOT_FOUND, 404)
        viewer.on_end = on_end
        viewer.mark_playing()
        log.info("viewer %s of %s: PLAYING (%s)", media_session_id, name, provider)
        return viewer, answer

    def _make_peer(self, offer: str, tracks: list[SourceTrack]) -> ViewerPeer | RemotePeer:
        """In a worker when there are workers and no transcode is needed; else here.

        Raises OfferError (bad offer) or WorkerRefused (no worker running).
        """
        if self.workers is not None and not needs_transcode(offer, tracks):
            return self.workers.peer(offer, tracks)
        return ViewerPeer(offer, tracks, self.peers)

    def report_refused(
        self,
        name: str,
        media_session_id: str,
        info: str,
        *,
        provider: str = "WebRTC",
        app_key: str | None,
        session_id: str | None = None,
    ) -> None:
        """A play refused before it had a viewer: the FAILED StreamStatusEvent hook."""
        if self.hooks is None or not app_key:
            return
        body = refused_viewer_json(
            name, media_session_id, info, provider=provider, app_key=app_key, session_id=session_id
        )
        self.hooks.post(app_key, "StreamStatusEvent", body)

    async def stop(self, media_session_id: str, info: str = STOPPED_BY_USER) -> bool:
        return await super().stop(media_session_id, info)

    def transcoder_for(self, stream: Stream) -> OpusTranscoder:
        """The stream's one G.711 -> Opus transcoder, shared by every viewer needing opus."""
        from .transcode import OpusTranscoder

        key = id(stream)
        transcoder = self.transcoders.get(key)
        if transcoder is None or transcoder.stream is not stream:
            transcoder = OpusTranscoder(stream, on_idle=lambda: self.transcoders.pop(key, None))
            self.transcoders[key] = transcoder
        return transcoder

    def _forget(self, viewer: Viewer) -> None:
        super()._forget(viewer)
        if self.on_viewer_gone is not None:
            self.on_viewer_gone(viewer.stream)

    async def close(self) -> None:
        """Shutdown: every viewer ends (its owner is told), every port is freed."""
        self._watch.cancel()
        await self._end_all(STOPPED_BY_SHUTDOWN)
