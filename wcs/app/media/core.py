"""The media side of one SIP call, sans-IO: offer/answer, hold, RTP sessions, publishing.

No socket, no event loop: the edge (:mod:`wcs.app.media.edge`) feeds it datagrams with the
time (``receive_rtp``/``receive_rtcp``), SDP from the call, and drives it by the contract of
:mod:`wcs.sansio`:

- ``datagrams_to_send(now)`` -> ``[(bytes, Route)]``: a :class:`Route` names the m-line, the
  port (RTP, or the separate RTCP port) and the peer address;
- ``get_timer()`` / ``handle_timer(now)``: one deadline for every RTP session (RTCP reports,
  silence, jitter buffer), the stream's generators and the RTP inactivity watch;
- ``next_event()``: :mod:`wcs.app.media.events` (a SIP INFO to send, the call to fail, a
  key the peer sent, a key or a sound of ours finished).

Taking part in the call (issue 19): ``send_dtmf`` (RFC 4733 on the audio session),
``play_sound``/``stop_sound`` (a clip instead of silence), ``inject_audio`` (a stream of the
server instead of silence, ``/call/inject_stream``), ``hold_offer`` (our re-INVITE's
offer: ``sendonly`` to hold, ``sendrecv`` to resume; while we hold, the inactivity watch
is suspended as when the peer holds).

SRTP (SDES) keys come out of the negotiation into :attr:`CallMediaCore.protection`, which the
edge applies to every datagram; the core itself sees plain RTP. An answer the ``sip_srtp``
policy refuses fails the call (:class:`MediaFailed` with the reason) before any RTP is sent.

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
from wcs.app.media.dtls_srtp import DtlsKeys, DtlsSrtp
from wcs.app.media.events import MediaEvent, MediaFailed, SendInfo
from wcs.app.media.negotiation import Negotiation
from wcs.app.media.sdes import SdesKeying
from wcs.app.media.secure import MediaProtection
from wcs.app.media.taking_part import TakingPart
from wcs.app.media.tracks import negotiated_tracks
from wcs.app.stream_feed import StreamFeed, StreamSink
from wcs.app.streams import TrackInfo
from wcs.rtp.activity import ActivityWatch
from wcs.rtp.events import KeyframeInfoNeeded
from wcs.rtp.session import Address, RtpSession

log = logging.getLogger(__name__)

SRTP_REFUSED = "488 Not Acceptable Here"


class Route(NamedTuple):
    """Where a datagram goes: the m-line's RTP port or its separate RTCP port, to ``address``;
    ``raw``: send as is (DTLS), not through SRTP."""

    kind: str
    rtcp_port: bool
    address: Address
    raw: bool = False


class StreamOutlet(Protocol):
    """Publishes the call's stream (see :class:`wcs.app.media.outlet.HubOutlet`)."""

    def publish(self, tracks: dict[str, TrackInfo]) -> StreamSink | None: ...
    def unpublish(self, reason: str, failed: bool) -> None: ...


class CallMediaCore(TakingPart):
    def __init__(
        self,
        call_id: str,
        public_ip: str,
        *,
        ports: dict[str, int],
        config: MediaConfig | None = None,
        outlet: StreamOutlet | None = None,
        keying: SdesKeying | None = None,
        dtls: DtlsSrtp | None = None,
    ) -> None:
        """``ports``: kind ("audio", "video") -> our RTP port, for each m-line we offer;
        ``keying``: the call's SDES policy (default: plain RTP)."""
        self.call_id = call_id
        self.config = config or MediaConfig()
        self.outlet = outlet
        self.negotiation = Negotiation(call_id, public_ip, ports, keying, dtls)
        self.protection = MediaProtection(call_id)
        self.dtls = dtls
        self.cname = secrets.token_hex(8)
        self.sessions: dict[str, RtpSession] = {}
        self.feed: StreamFeed | None = None
        self.watch: ActivityWatch | None = None
        self.sink: StreamSink | None = None
        # An incoming call with a PIN publishes only once the PIN is right (set_stream_held)
        self.stream_held = False
        self.hold = False  # the peer holds us
        self.local_hold = False  # we hold the peer (hold_offer)
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
            if self.negotiation.refusal is not None:
                self._refuse(self.negotiation.refusal)
            return
        if self.dtls is None:
            self.protection.install(self.negotiation.keys)
        elif not self._start_dtls(now):
            return
        self._run(final, now)

    def answer_first_offer(self, body: bytes) -> bytes | None:
        """We are called: our answer to the offer of the peer's INVITE; None when no m-line
        has a codec in common (488). :meth:`start_answered` starts the media once it is sent."""
        self.negotiation.offer()  # our capabilities: the base of the answer
        result = self.negotiation.answer(body, {})
        if result is None or not any(
            not m.rejected and m.receive_codec is not None for m in result.negotiated
        ):
            return None
        return str(result.answer).encode()

    def start_answered(self, now: float) -> None:
        """Our answer to the peer's offer is sent (the 200 of an incoming call): its SRTP
        keys (SDES) or DTLS-SRTP associations, then the media."""
        if self.closed or self.negotiation.remote is None:
            return
        if self.dtls is None:
            self.protection.install(self.negotiation.keys)
        else:
            self.protection.pending = {kind for kind, _ in self.dtls.sessions}
            self.dtls.start_answered(now)
        self._run(True, now)

    def _run(self, final: bool, now: float) -> None:
        self._start_media(now)
        if final and not self._answered:
            # The inactivity count starts with the answer: early media may legitimately be
            # silent (a ring-back the peer never sends).
            self._answered = True
            if self.watch is not None and not (self.hold or self.local_hold):
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
        if self.dtls is None:
            self.protection.install(result.keys)
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
            if session.video_out is not None and nm.send_codec is not None:
                session.video_out.payload_type = nm.send_codec.payload_type  # injected video
        self._set_hold(result.hold, result.offer, now)
        return str(result.answer).encode(), result.hold

    def _set_hold(self, hold: bool, offer: sdp.SessionDescription, now: float) -> None:
        """On hold the peer stops sending on purpose: the inactivity watch is suspended, and
        we stop sending where the peer does not want to receive."""
        if hold != self.hold:
            log.info("call %s: media %s", self.call_id, "on hold" if hold else "resumed")
        self.hold = hold
        self._watch_hold(now)
        for m in offer.media:
            s = self.sessions.get(m.kind)
            if s is not None and not m.rejected:
                s.sending = sdp.direction_of(m, offer) in ("sendrecv", "recvonly") and not (
                    sdp.is_hold(m, offer)
                )

    def _watch_hold(self, now: float) -> None:
        if self.watch is not None and self._answered:
            if self.hold or self.local_hold:
                self.watch.suspend()
            else:
                self.watch.resume(now)

    def hold_offer(self, hold: bool, now: float) -> bytes | None:
        """Our re-INVITE's offer to hold (``sendonly``: the peer may stop sending, we keep
        sending silence or a sound) or resume (``sendrecv``); None before the call's answer."""
        running = {kind: s.codec for kind, s in self.sessions.items()}
        body = self.negotiation.re_offer("sendonly" if hold else "sendrecv", running)
        if body is not None:
            self.local_hold = hold
            self._watch_hold(now)
        return body

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
                reorder_latency=cfg.reorder_latency,
                init_packets=cfg.init_packets,
                send_silence=cfg.send_silence,
                silence_early=cfg.silence_early,
                dtmf=cfg.dtmf,
                guard=cfg.source_guard,
            )
            self.sessions[m.kind] = session
            session.start(now)

    def receive_rtp(self, kind: str, data: bytes, addr: Address, now: float) -> None:
        """A datagram on the m-line's RTP port (RTCP too under rtcp-mux)."""
        session = self.sessions[kind]
        session.receive_rtp(data, addr, now)
        audio = self.sessions.get("audio")
        if audio is not None:
            audio.send_early(now)  # our silence rides on this wake-up
        # Only the accepted source's RTP keeps the call alive, not whatever reaches the port.
        watch, last = self.watch, session.last_rtp
        if watch is not None and last is not None and last > watch.last:
            watch.last = last

    # ------------------------------------------------------------------ DTLS-SRTP
    def _start_dtls(self, now: float) -> bool:
        local, remote = self.negotiation.local, self.negotiation.remote
        assert self.dtls is not None and local is not None and remote is not None
        try:
            self.dtls.on_answer(local, remote, now)
        except sdp.SdpError as exc:
            self._refuse(str(exc))
            return False
        self.protection.pending = {kind for kind, _ in self.dtls.sessions}
        return True

    def receive_dtls(self, kind: str, rtcp: bool, data: bytes, now: float) -> None:
        """A DTLS record on the m-line's RTP (or RTCP) port."""
        if self.dtls is not None:
            self.dtls.receive(kind, rtcp, data, now)
            self._dtls_events()

    def _dtls_events(self) -> None:
        assert self.dtls is not None
        while (event := self.dtls.next_event()) is not None:
            if isinstance(event, DtlsKeys):
                shared = (event.kind, True) not in self.dtls.sessions
                self.protection.install_dtls(event, shared)
            elif not self._failed:
                self._failed = True
                self._events.append(MediaFailed(event.info))

    def _refuse(self, reason: str) -> None:
        if not self._failed:
            self._failed = True
            self._events.append(MediaFailed(f"{SRTP_REFUSED}: {reason}"))

    def _dtls_datagrams(self, now: float) -> list[tuple[bytes, Route]]:
        assert self.dtls is not None
        out = []
        for data, (kind, rtcp) in self.dtls.datagrams_to_send(now):
            nm = next((m for m in self.negotiated if m.kind == kind), None)
            addr = None if nm is None else nm.remote_rtcp_address if rtcp else nm.remote_address
            if addr is not None:
                out.append((data, Route(kind, rtcp, addr, raw=True)))
        return out

    def receive_rtcp(self, kind: str, data: bytes, addr: Address, now: float) -> None:
        """A datagram on the m-line's separate RTCP port."""
        self.sessions[kind].receive_rtcp(data, addr, now)

    def request_keyframe(self, now: float) -> None:
        session = self.sessions.get("video")
        if session is not None:
            session.request_keyframe(now)

    # ------------------------------------------------------------------ sans-IO contract
    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Route]]:
        out: list[tuple[bytes, Route]] = [] if self.dtls is None else self._dtls_datagrams(now)
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
            self.dtls.get_timer() if self.dtls is not None else None,
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
        if self.dtls is not None:
            self.dtls.handle_timer(now)
            self._dtls_events()
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
            if event is not None:
                return event  # DTMF received or sent, a sound's end
        return self._events.popleft() if self._events else None

    # ------------------------------------------------------------------ stream
    def tracks(self) -> dict[str, TrackInfo]:
        tracks = negotiated_tracks(self.negotiated, self.sessions)
        if self.feed is not None:
            tracks.update(self.feed.generated_tracks(set(tracks)))
        return tracks

    def publish_now(self) -> None:
        """Publish now if answered and not published yet (the name was another call's)."""
        if self._answered and not self.closed:
            self._publish()

    def set_stream_held(self, held: bool) -> None:
        """Hold back (or now allow) the stream: media flows, nothing is published."""
        self.stream_held = held
        if not held and self._answered and not self.closed:
            self._publish()

    def _publish(self) -> None:
        if self.sink is not None or self.outlet is None or not self.sessions:
            return
        if self.stream_held:
            return
        sink = self.outlet.publish(self.tracks())
        if sink is None:
            return
        self.sink = sink
        assert self.feed is not None
        self.feed.stream = sink

    def stats(self, now: float) -> dict[str, dict[str, object]]:
        out = {kind: s.snapshot(now) for kind, s in self.sessions.items()}
        for kind, snap in out.items():
            srtp = self.protection.snapshot(kind)
            if srtp is not None:
                snap["srtp"] = srtp
        return out

    # ------------------------------------------------------------------ close
    def close(self, reason: str) -> None:
        """Stop every session (their RTCP BYE stays queued for ``datagrams_to_send``) and
        unpublish the stream; FAILED when the media died."""
        if self.closed:
            return
        self.closed = True
        for session in self.sessions.values():
            session.stop()
        if self.dtls is not None:
            self.dtls.close()
        if self.feed is not None:
            self.feed.stream = None
        if self.sink is not None and self.outlet is not None:
            self.outlet.unpublish(reason, reason == RTP_ACTIVITY_FAILED)
        self.sink = None
