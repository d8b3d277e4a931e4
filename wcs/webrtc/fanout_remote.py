"""A viewer served by a media worker, as the main process sees it (setting ``webrtc_workers``).

* :class:`RemotePeer` stands in for a :class:`ViewerPeer` in a :class:`Viewer`: same
  ``start``/``close``/``stats``/``on_state``/``on_keyframe_request``, plus ``attach``.
* :class:`StreamRelay` is one packet sink per (worker, stream) while that worker has live
  viewers of that stream: one non-blocking send per source packet. A full socket is a
  counted drop, never a wait.

The workers themselves (start, load, restart, stop) are :mod:`wcs.webrtc.fanout`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import events
from . import fanout_wire as wire
from .answer import SourceTrack, negotiate
from .offer import parse_offer

if TYPE_CHECKING:
    from wcs.app.streams import Stream

    from .fanout import WorkerHandle

log = logging.getLogger(__name__)

WORKER_EXIT = "Failed by media worker exit"
WORKER_TIMEOUT = "Failed by media worker timeout"
ANSWER_TIMEOUT = 10.0  # a worker that cannot answer in this time is stuck


class WorkerRefused(Exception):
    def __init__(self, info: str, status: int) -> None:
        super().__init__(info)
        self.info = info
        self.status = status


def needs_transcode(offer_sdp: str, tracks: list[SourceTrack]) -> bool:
    """Whether this offer is answered with Opus made from G.711 (served in-process).

    Raises OfferError like ViewerPeer would, so a bad offer is refused before a worker.
    """
    offer = parse_offer(offer_sdp)
    choices = negotiate(offer, tracks)
    return any(c.transcode for c in choices if c.kind == "audio")


class StreamRelay:
    """The packet sink of one stream for one worker: each packet once, to the worker."""

    def __init__(self, worker: WorkerHandle, stream: Stream, key: int) -> None:
        self.worker = worker
        self.stream = stream
        self.key = key
        self.viewers: set[int] = set()
        self._headers = (
            wire.media_header(key, 0, wire.KIND_AUDIO),
            wire.media_header(key, 0, wire.KIND_VIDEO),
        )
        self._subscription = stream.subscribe_packets(self)

    def on_rtp(self, kind: str, packet: bytes) -> None:
        try:
            self.worker.send_media(self._headers[kind == "video"] + packet)
        except OSError:  # BlockingIOError (full) included: a late packet is worthless
            self.worker.media_drops += 1

    def on_stream_end(self, reason: str) -> None:
        self._subscription.cancel()
        self.worker.relays.pop(id(self.stream), None)

    def close(self) -> None:
        self._subscription.cancel()


class RemotePeer:
    """A viewer's peer living in a worker process, as a :class:`Viewer` sees it."""

    needs_audio_transcode = False

    def __init__(
        self, worker: WorkerHandle, viewer_id: int, offer: str, tracks: list[SourceTrack]
    ) -> None:
        self.worker = worker
        self.viewer_id = viewer_id
        self.offer = offer
        self.tracks = tracks
        self.state = events.NEW
        self.info = ""
        self.senders: dict[str, None] = {}  # the kinds the viewer gets (hasAudio/hasVideo)
        self.srtp_profile = ""
        self.on_state: Callable[[events.PeerStateChanged], None] | None = None
        self.on_keyframe_request: Callable[[], None] | None = None
        # The worker's ViewerPeer.stats(), plus which worker serves the viewer.
        self._stats: dict[str, Any] = {"state": self.state, "tracks": {}, "worker": worker.index}
        self._answer: asyncio.Future[str] | None = None
        self.answer = ""  # the worker's answer SDP, once given
        self._relay: StreamRelay | None = None
        self._stream: Stream | None = None

    async def start_for(self, stream: Stream) -> str:
        """Ask the worker for the answer SDP; raises WorkerRefused."""
        self._stream = stream
        self._answer = asyncio.get_running_loop().create_future()
        self.worker.viewers[self.viewer_id] = self
        key = self.worker.pool.stream_key(stream)
        self.worker.send(
            wire.CreateViewer(self.viewer_id, key, self.offer, wire.tracks_to_wire(self.tracks))
        )
        try:
            answer = await asyncio.wait_for(self._answer, ANSWER_TIMEOUT)
        except TimeoutError:
            raise WorkerRefused(WORKER_TIMEOUT, 503) from None
        self.answer = answer
        self._set_state(events.CONNECTING)
        return answer

    def attach(self, stream: Stream) -> Callable[[], None]:
        """Start the media: the cached keyframe for this viewer alone, then the live packets.

        Returns what detaches it. All on the one ordered media socket, so the worker sends
        the cached packets before any live one.
        """
        worker = self.worker
        relay = worker.relay_for(stream)
        header = wire.media_header(relay.key, self.viewer_id, wire.KIND_VIDEO)
        for packet in stream.cached_packets():
            try:
                worker.send_media(header + packet)
            except OSError:
                worker.media_drops += 1
        try:
            worker.send_media(wire.media_header(relay.key, self.viewer_id, wire.KIND_START))
        except OSError:  # no room: the control channel carries the marker instead
            worker.send(wire.StartLive(self.viewer_id))
        relay.viewers.add(self.viewer_id)
        self._relay = relay
        return self.detach

    def detach(self) -> None:
        relay, self._relay = self._relay, None
        if relay is not None:
            relay.viewers.discard(self.viewer_id)
            if not relay.viewers:
                self.worker.drop_relay(relay)

    async def close(self) -> None:
        self.detach()
        if self.worker.viewers.pop(self.viewer_id, None) is not None:
            self.worker.send(wire.CloseViewer(self.viewer_id))
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(WorkerRefused(events.ICE_ERROR, 503))
        self._set_state(events.CLOSED)

    def stats(self) -> dict[str, Any]:
        return self._stats

    # --- from the worker ----------------------------------------------------------------

    def on_message(self, message: wire.Message) -> None:
        if isinstance(message, wire.ViewerAnswer):
            self.senders = dict.fromkeys(message.kinds)
            if self._answer is not None and not self._answer.done():
                self._answer.set_result(message.answer)
        elif isinstance(message, wire.ViewerRefused):
            self.worker.viewers.pop(self.viewer_id, None)
            if self._answer is not None and not self._answer.done():
                self._answer.set_exception(WorkerRefused(message.info, message.status))
        elif isinstance(message, wire.PeerState):
            if message.state in (events.CLOSED, events.FAILED):
                self.worker.viewers.pop(self.viewer_id, None)
            self._set_state(message.state, message.info)
        elif isinstance(message, wire.KeyframeRequest) and self.on_keyframe_request:
            self.on_keyframe_request()

    def on_stats(self, stats: dict[str, Any]) -> None:
        self._stats = {**stats, "worker": self.worker.index}
        self.srtp_profile = str(stats.get("srtp_profile", ""))

    def worker_died(self) -> None:
        self.detach()
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(WorkerRefused(WORKER_EXIT, 503))
        self._set_state(events.FAILED, WORKER_EXIT)

    def _set_state(self, state: str, info: str = "") -> None:
        if state == self.state or self.state in (events.CLOSED, events.FAILED):
            return
        self.state, self.info = state, info
        self._stats = {**self._stats, "state": state, "info": info}
        if self.on_state is not None:
            try:
                self.on_state(events.PeerStateChanged(state, info))
            except Exception:
                log.exception("on_state callback failed")
