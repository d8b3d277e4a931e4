"""The media side of one SIP call, sans-IO: offer/answer, hold, RTP sessions, publishing.

No socket, no event loop: the edge (:mod:`wcs.app.media.edge`) feeds it datagrams with the
time (``receive_rtp``/``receive_rtcp``), SDP from the call, and drives it by the contract of
:mod:`wcs.sansio`:

- ``datagrams_to_send(now)`` -> ``[(bytes, Route)]``: a :class:`Route` names the m-line, the
  port (RTP, or the separate RTCP port) and the peer address;
- ``get_timer()`` / ``handle_timer(now)``: one deadline for every RTP session (RTCP reports,
  silence, jitter buffer), the stream's generators and the RTP inactivity watch;
- ``next_event()``: :mod:`wcs.app.media.events` (a SIP INFO to send, the call to fail).

The media path starts when the peer's SDP is known (the 200's answer, or early media in a
180/183): one :class:`RtpSession` per live m-line. The stream is published on the final
answer, or on early media with ``publish_early_media``; the :class:`StreamOutlet` does it.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from typing import NamedTuple, Protocol

from wcs import sdp
from wcs.app.media.config import RTP_ACTIVITY_FAILED, MediaConfig
from wcs.app.media.events import MediaEvent, MediaFailed, SendInfo
from wcs.app.media.negotiation import Negotiation
from wcs.app.media.tracks import negotiated_tracks
from wcs.app.stream_feed import StreamFeed, StreamSink
from wcs.app.streams import TrackInfo
from wcs.rtp.activity import ActivityWatch
from wcs.rtp.events import KeyframeInfoNeeded
from wcs.rtp.session import Address, RtpSession

log = logging.getLogger(__name__)


class Route(NamedTuple):
    """Where a datagram goes: the m-line's RTP port or its separate RTCP port, to ``address``."""

    kind: str
    rtcp_port: bool
    address: Address


class StreamOutlet(Protocol):
    """Publishes the call's stream (see :class:`wcs.app.media.outlet.HubOutlet`)."""

    def publish(self, tracks: dict[str, TrackInfo]) -> StreamSink | None: ...
    def unpublish(self, reason: str, failed: bool) -> None: ...


class CallMediaCore:
    def __init__(
        self,
        call_id: str,
        public_ip: str,
        *,
        ports: dict[str, int],
        config: MediaConfig | None = None,
        outlet: StreamOutlet | None = None,
    ) -> None:
        """``ports``: kind ("audio", "video") -> our RTP port, for each m-line we offer."""
        self.call_id = call_id
        self.config = config or MediaConfig()
        self.outlet = outlet
        self.negotiation = Negotiation(call_id, public_ip, ports)
        self.cname = secrets.token_hex(8)
        self.sessions: dict[str, RtpSession] = {}
        self.feed: StreamFeed | None = None
        self.watch: ActivityWatch | None = None
        self.sink: StreamSink | None = None
        self.hold = False
        self.closed = False
        self._answered = False
        self._failed = False
        self._events: deque[MediaEvent] = deque()

    # ------------------------------------------------------------------ SDP
    @property
    def local(self) -> sdp.SessionDescription | None:
        return self.negotiation.local

    @property
    def remote(self) -> sdp.SessionDescription | None:
        return self.negotiation.remote

    @property
    def negotiated(self) -> list[sdp.NegotiatedMedia]:
        return self.negotiation.negotiated

    def offer(self) -> bytes:
        return self.negotiation.offer()

    def on_remote_sdp(self, body: bytes, final: bool, now: float) -> None:
        """An answer (or early-media SDP) to our offer: start or update the media path."""
        if self.negotiation.local is None or self.closed:
            return
        if not self.negotiation.on_answer(body):
            return
        self._start_media(now)
        if final and not self._answered:
            # The inactivity count starts with the answer: early media may legitimately be
            # silent (a ring-back the peer never sends).
            self._answered = True
            if self.watch is not None and not self.hold:
                self.watch.resume(now)
        if final or self.config.publish_early_media:
            self._publish()

    def answer_remote_offer(self, body: bytes | None, now: float) -> tuple[bytes | None, bool]:
        """Answer a re-INVITE/UPDATE offer (None: refuse, 488) and whether it holds us;
        an offerless re-INVITE gets a fresh offer."""
        if body is None:
            return self.negotiation.fresh_offer(), False
        running = {kind: s.codec for kind, s in self.sessions.items()}
        result = self.negotiation.answer(body, running)
        if result is None:
            return None, False
        for nm in result.negotiated:
            session = self.sessions.get(nm.kind)
            if session is None:
                continue
            if nm.rejected or nm.receive_codec is None:
                # The peer turned this m-line off: the track stays and waits (the stream keeps
                # its shape for its viewers); we stop sending there.
                log.info("call %s: the peer turned %s off", self.call_id, nm.kind)
                session.sending = False
                continue
            session.update(nm, now)  # new address, payload type numbers, direction
        self._set_hold(result.hold, result.offer, now)
        return str(result.answer).encode(), result.hold

    def _set_hold(self, hold: bool, offer: sdp.SessionDescription, now: float) -> None:
        """On hold the peer stops sending on purpose: the inactivity watch is suspended, and
        we stop sending where the peer does not want to receive."""
        if hold != self.hold:
            log.info("call %s: media %s", self.call_id, "on hold" if hold else "resumed")
        self.hold = hold
        if self.watch is not None and self._answered:
            if hold:
                self.watch.suspend()
            else:
                self.watch.resume(now)
        for m in offer.media:
            s = self.sessions.get(m.kind)
            if s is not None and not m.rejected:
                s.sending = sdp.direction_of(m, offer) in ("sendrecv", "recvonly") and not (
                    sdp.is_hold(m, offer)
                )

    # ------------------------------------------------------------------ media path
    def _start_media(self, now: float) -> None:
        cfg = self.config
        if self.feed is None:
            self.feed = StreamFeed(now, cfg.generate_av, secrets.randbits(32))
            self.watch = ActivityWatch(cfg.activity_timeout, now)
            self.watch.suspend()  # until the final answer (on_remote_sdp)
        for m in self.negotiated:
            if m.rejected or m.receive_codec is None or m.kind not in self.negotiation.ports:
                continue
            session = self.sessions.get(m.kind)
            if session is not None:
                session.update(m, now)
                continue
            session = RtpSession(
                m,
                self.feed,
                local_ssrc=secrets.randbits(32),
                cname=self.cname,
                jitter_latency=cfg.jitter_latency,
                init_packets=cfg.init_packets,
                send_silence=cfg.send_silence,
                guard=cfg.source_guard,
            )
            self.sessions[m.kind] = session
            session.start(now)

    def receive_rtp(self, kind: str, data: bytes, addr: Address, now: float) -> None:
        """A datagram on the m-line's RTP port (RTCP too under rtcp-mux)."""
        session = self.sessions[kind]
        session.receive_rtp(data, addr, now)
        # Only the accepted source's RTP keeps the call alive, not whatever reaches the port.
        watch, last = self.watch, session.last_rtp
        if watch is not None and last is not None and last > watch.last:
            watch.last = last

    def receive_rtcp(self, kind: str, data: bytes, addr: Address, now: float) -> None:
        """A datagram on the m-line's separate RTCP port."""
        self.sessions[kind].receive_rtcp(data, addr, now)

    def request_keyframe(self, now: float) -> None:
        session = self.sessions.get("video")
        if session is not None:
            session.request_keyframe(now)

    # ------------------------------------------------------------------ sans-IO contract
    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Route]]:
        out: list[tuple[bytes, Route]] = []
        for kind, session in self.sessions.items():
            if not session.has_output:  # the common case after a receive batch
                continue
            for data, addr in session.datagrams_to_send(now):
                out.append((data, Route(kind, False, addr)))
            for data, addr in session.rtcp_datagrams_to_send(now):
                out.append((data, Route(kind, True, addr)))
        return out

    def get_timer(self) -> float | None:
        """The earliest deadline of the sessions, the generators and the inactivity watch."""
        if self.closed:
            return None
        # Asked after every receive batch: plain comparisons, no temporary lists.
        when = None
        for session in self.sessions.values():
            d = session.get_timer()
            if d is not None and (when is None or d < when):
                when = d
        candidates = (
            self.feed.get_timer() if self.feed is not None else None,
            self.watch.deadline() if self.watch is not None and not self._failed else None,
        )
        for d in candidates:
            if d is not None and (when is None or d < when):
                when = d
        return when

    def handle_timer(self, now: float) -> None:
        if self.closed:
            return
        for session in self.sessions.values():
            session.handle_timer(now)
        if self.feed is not None:
            self.feed.handle_timer(now)
        if self.watch is not None and self.watch.expired(now) and not self._failed:
            self._failed = True
            log.warning(
                "call %s: no RTP for %.1f s: failing the call", self.call_id, now - self.watch.last
            )
            self._events.append(MediaFailed())

    def next_event(self) -> MediaEvent | None:
        for session in self.sessions.values():
            event = session.next_event()
            if isinstance(event, KeyframeInfoNeeded):
                return SendInfo()  # picture_fast_update
        return self._events.popleft() if self._events else None

    # ------------------------------------------------------------------ stream
    def tracks(self) -> dict[str, TrackInfo]:
        tracks = negotiated_tracks(self.negotiated, self.sessions)
        if self.feed is not None:
            tracks.update(self.feed.generated_tracks(set(tracks)))
        return tracks

    def _publish(self) -> None:
        if self.sink is not None or self.outlet is None or not self.sessions:
            return
        sink = self.outlet.publish(self.tracks())
        if sink is None:
            return
        self.sink = sink
        assert self.feed is not None
        self.feed.stream = sink

    def stats(self, now: float) -> dict[str, dict[str, object]]:
        return {kind: s.snapshot(now) for kind, s in self.sessions.items()}

    # ------------------------------------------------------------------ close
    def close(self, reason: str) -> None:
        """Stop every session (their RTCP BYE stays queued for ``datagrams_to_send``) and
        unpublish the stream; FAILED when the media died."""
        if self.closed:
            return
        self.closed = True
        for session in self.sessions.values():
            session.stop()
        if self.feed is not None:
            self.feed.stream = None
        if self.sink is not None and self.outlet is not None:
            self.outlet.unpublish(reason, reason == RTP_ACTIVITY_FAILED)
        self.sink = None
