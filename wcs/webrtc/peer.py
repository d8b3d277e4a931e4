"""ViewerPeer: one browser playing a stream over WebRTC (send-only, BUNDLE, rtcp-mux).

Life cycle: ``ViewerPeer(offer, tracks, ...)`` negotiates (raises ``OfferError``), ``await
start()`` binds and returns the answer SDP, then ICE → DTLS run in the background.
State changes reach ``on_state(PeerStateChanged)``: connecting → connected (DTLS done) →
closed or failed (with a WCS info string). ``on_keyframe_request()`` is called when the
viewer asks for a picture (PLI/FIR, at most once per 500 ms) and once on connect, so the
source can send a keyframe to the newcomer.

Per packet, ``send_rtp(kind, packet)`` is flat: rewrite, one protect, one sendto. Packets
given before the peer is connected are dropped.

Timers: the peer is a sans-IO core (``get_timer``/``handle_timer``, see :mod:`wcs.sansio`)
driven by one :class:`~wcs.sansio.Pump` once started, so each peer holds exactly one
``call_at``: the earliest of the ICE timeout (until ICE completes), then the DTLS
retransmission, the consent deadline and the next RTCP sender report. Sender reports run
from the first packet sent on: a viewer of a paused stream sleeps until consent is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable

import pylibsrtp

from wcs.observability import metrics
from wcs.rtp import rtcp
from wcs.sansio import Pump

from . import events
from .answer import MediaChoice, SourceTrack, build_answer, negotiate
from .certificate import Certificate
from .demux import DTLS, RTP, classify, is_rtcp
from .dtls import DtlsClosed, DtlsConnected, DtlsError, DtlsFailed, DtlsSession
from .ice import IceTransport
from .offer import OfferError, parse_offer
from .sender import TrackSender

log = logging.getLogger(__name__)

SR_INTERVAL = 1.0
KEYFRAME_MIN_INTERVAL = 0.5


class ViewerPeer:
    def __init__(
        self,
        offer_sdp: str,
        tracks: list[SourceTrack],
        *,
        certificate: Certificate,
        bind_ip: str = "0.0.0.0",
        public_ip: str = "",
        port_range: tuple[int, int] | None = None,
        on_state: Callable[[events.PeerStateChanged], None] | None = None,
        on_keyframe_request: Callable[[], None] | None = None,
        ice_timeout: float = 30.0,
        consent_timeout: float = 30.0,
        answer_setup: str = "active",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.offer = parse_offer(offer_sdp)
        if not self.offer.media[0].rtcp_mux and not any(m.rtcp_mux for m in self.offer.media):
            raise OfferError("the offer does not support rtcp-mux")
        self.choices: list[MediaChoice] = negotiate(self.offer, tracks)
        if not any(c.accepted for c in self.choices):
            raise OfferError(events.NO_COMMON_CODECS)
        # Our DTLS role from the offer's a=setup (RFC 5763 5): we answer "active" (DTLS
        # client) to actpass unless told otherwise, "passive" to active.
        if self.offer.setup == "active":
            self.setup = "passive"
        elif self.offer.setup == "passive":
            self.setup = "active"
        else:
            if answer_setup not in ("active", "passive"):
                raise ValueError("answer_setup must be 'active' or 'passive'")
            self.setup = answer_setup
        self.certificate = certificate
        self.on_state = on_state
        self.on_keyframe_request = on_keyframe_request
        self.ice_timeout = ice_timeout
        self.consent_timeout = consent_timeout
        self.clock = clock
        self.state = events.NEW
        self.info = ""
        self.cname = secrets.token_hex(8)
        self.stream_id = secrets.token_hex(8)
        self.senders: dict[str, TrackSender] = {}
        for choice in self.choices:
            if choice.codec is not None:
                self.senders[choice.kind] = TrackSender(
                    choice.kind,
                    choice.ssrc,
                    choice.codec.payload_type,
                    choice.codec.clock_rate,
                    self.cname,
                    clock=clock,
                )
        self._by_ssrc = {s.ssrc: s for s in self.senders.values()}
        # Audio m-line answered with opus though the source is not opus: the caller must
        # feed transcoded opus packets to send_rtp("audio", ...).
        self.needs_audio_transcode = any(c.transcode for c in self.choices if c.kind == "audio")
        self.ice = IceTransport(
            self._on_datagram,
            bind_ip=bind_ip,
            public_ip=public_ip,
            port_range=port_range,
            clock=clock,
        )
        # Made now, not when ICE completes: as DTLS server we may get the ClientHello in
        # the same breath as the nomination. A fingerprint hash we cannot check is an
        # unanswerable offer.
        try:
            self.dtls: DtlsSession | None = DtlsSession(
                certificate, self.setup == "active", self.offer.fingerprints
            )
        except DtlsError as exc:
            raise OfferError(str(exc)) from exc
        self.srtp_profile = ""
        self._settled = asyncio.Event()  # set once connected, closed or failed
        self._active: dict[str, TrackSender] = {}  # filled at the first packet sent
        # Keyed but nothing sent yet: the senders wait here, and sender reports wait too.
        self._dormant: dict[str, TrackSender] = {}
        self._keyed = False  # SRTP keys exist and the peer is live: RTCP is read
        self._protect: Callable[[bytes], bytes] = bytes
        self._protect_rtcp: Callable[[bytes], bytes] = bytes
        self._unprotect_rtcp: Callable[[bytes], bytes] = bytes
        self._task: asyncio.Task[None] | None = None
        self._pump: Pump[ViewerPeer] | None = None
        self._finishing: asyncio.Future[None] | None = None
        self._ice_deadline: float | None = None  # from start() until ICE completes
        self._next_sr = 0.0
        self._last_keyframe_request = -1e9
        self.send_errors = 0
        self.rtcp_errors = 0
        self.answer = ""

    # --- public -------------------------------------------------------------------------

    async def start(self) -> str:
        """Bind the UDP port, start ICE, return the answer SDP.

        A bind failure (no free port in the range) fails the peer with "Failed by ICE
        error" and is raised (OSError) for the caller to answer the browser.
        """
        try:
            candidates = await self.ice.bind()
        except OSError:
            self._set_state(events.FAILED, events.ICE_ERROR)
            raise
        self.answer = build_answer(
            self.offer,
            self.choices,
            ice_ufrag=self.ice.local_ufrag,
            ice_pwd=self.ice.local_pwd,
            candidates=candidates,
            fingerprint=self.certificate.fingerprint,
            setup=self.setup,
            stream_id=self.stream_id,
            cname=self.cname,
        )
        self._set_state(events.CONNECTING)
        self._ice_deadline = self.clock() + self.ice_timeout
        self._pump = Pump(self, self._transmit)
        self._task = asyncio.create_task(self._connect_ice())
        self._pump.wake()  # arms the ICE timeout
        return self.answer

    def send_rtp(self, kind: str, packet: bytes) -> None:
        """Forward one source RTP packet of track ``kind`` ("audio"/"video") to the viewer."""
        sender = self._active.get(kind)
        if sender is None:
            if not self._dormant:
                return
            sender = self._first_packet(kind)
            if sender is None:
                return
        data = sender.rewrite(packet)
        if data is None:
            return
        try:
            self.ice.send(self._protect(data))
        except (pylibsrtp.Error, OSError, ValueError):
            self.send_errors += 1

    def _first_packet(self, kind: str) -> TrackSender | None:
        """Media starts: the senders go live and sender reports are due from now on."""
        self._active, self._dormant = self._dormant, {}
        self._next_sr = self.clock()
        self._wake()
        return self._active.get(kind)

    async def close(self) -> None:
        if self.state not in (events.CLOSED, events.FAILED):
            self._set_state(events.CLOSED)
        if self._finishing is None:
            self._finishing = asyncio.ensure_future(self._shutdown())
        await asyncio.shield(self._finishing)

    async def wait_connected(self) -> bool:
        """Wait until connected (True) or closed/failed (False)."""
        await self._settled.wait()
        return self.state == events.CONNECTED

    def stats(self) -> dict[str, object]:
        """Counters for status answers (no secrets: keys never leave the SRTP context)."""
        tracks: dict[str, object] = {}
        for kind, s in self.senders.items():
            rr = s.rr
            tracks[kind] = {
                "ssrc": s.ssrc,
                "payload_type": s.payload_type,
                "packets": s.packets,
                "octets": s.octets,
                "retransmitted": s.retransmitted,
                "malformed": s.malformed,
                "fraction_lost": rr.fraction_lost / 256 if rr else None,
                "packets_lost": rr.packets_lost if rr else None,
                "jitter": rr.jitter if rr else None,
            }
        return {
            "state": self.state,
            "info": self.info,
            "srtp_profile": self.srtp_profile,
            "send_errors": self.send_errors,
            "rtcp_errors": self.rtcp_errors,
            "tracks": tracks,
        }

    # --- the sans-IO core: one timer ----------------------------------------------------

    def get_timer(self) -> float | None:
        if self.state not in (events.CONNECTING, events.CONNECTED):
            return None
        if self._ice_deadline is not None:
            return self._ice_deadline
        when = self.ice.last_rx + self.consent_timeout
        dtls = self.dtls
        if dtls is not None and (at := dtls.get_timer()) is not None and at < when:
            when = at
        if self._active and self.state == events.CONNECTED and self._next_sr < when:
            when = self._next_sr
        return when

    def handle_timer(self, now: float) -> None:
        """Whatever is due at ``now``: ICE timeout, consent expiry, DTLS, sender reports.
        Also callable by tests with an injected clock."""
        if self.state not in (events.CONNECTING, events.CONNECTED):
            return
        # Deadlines come from the peer's clock; the loop's may lag it a little (uvloop
        # caches it in ms): never judge a deadline early, or it would be re-armed at once.
        now = max(now, self.clock())
        if self._ice_deadline is not None:
            if now >= self._ice_deadline:
                self._set_state(events.FAILED, events.ICE_TIMEOUT)
            return
        if now - self.ice.last_rx >= self.consent_timeout:
            self._set_state(events.FAILED, events.ICE_KEEP_ALIVE)
            return
        dtls = self.dtls
        if dtls is not None:
            timer = dtls.get_timer()
            if timer is not None and now >= timer:
                dtls.handle_timer(now)
                self._after_dtls()
        if self._active and self.state == events.CONNECTED and now >= self._next_sr:
            self._next_sr = now + SR_INTERVAL
            self.send_sender_reports()

    def next_event(self) -> None:
        return None  # state changes go to on_state, keyframe requests to on_keyframe_request

    def _transmit(self, now: float) -> None:
        self._after_dtls()

    def _wake(self) -> None:
        if self._pump is not None:
            self._pump.wake()
        else:  # not started: tests drive the parts by hand
            self._after_dtls()

    # --- background ---------------------------------------------------------------------

    async def _connect_ice(self) -> None:
        try:
            await self.ice.connect(self.offer.ice_ufrag, self.offer.ice_pwd, self._candidates())
        except (ConnectionError, OSError) as exc:
            log.info("ICE failed: %s", exc)
            self._set_state(events.FAILED, events.ICE_ERROR)
            return
        if self.state != events.CONNECTING or self.dtls is None:
            return
        self._ice_deadline = None  # consent, DTLS and sender reports from now on
        self.dtls.start(self.clock())  # a client sends ClientHello; a server may have begun
        self._wake()

    def _candidates(self) -> list[str]:
        return [c for m in self.offer.media for c in m.candidates]

    def send_sender_reports(self) -> None:
        unix = time.time()
        for sender in self._active.values():
            if sender.packets == 0:
                continue
            try:
                self.ice.send(self._protect_rtcp(sender.sender_report(unix)))
            except (pylibsrtp.Error, OSError, ValueError):
                self.send_errors += 1

    # --- incoming -----------------------------------------------------------------------

    def _on_datagram(self, data: bytes) -> None:
        kind = classify(data)
        if kind == RTP:
            if is_rtcp(data) and self._keyed:
                self._on_rtcp(data)
        elif kind == DTLS and self.dtls is not None:
            self.dtls.receive_datagram(data, self.clock())
            self._wake()

    def _on_rtcp(self, data: bytes) -> None:
        try:
            plain = self._unprotect_rtcp(data)
        except (pylibsrtp.Error, ValueError, TypeError):
            self.rtcp_errors += 1
            metrics.SRTP_FAILURES.inc()  # SRTCP that fails authentication or decryption
            return
        self.handle_rtcp(plain, self.clock())

    def handle_rtcp(self, plain: bytes, now: float) -> None:
        """React to one plain compound RTCP packet from the viewer."""
        try:
            packets = rtcp.parse_compound(plain)
        except rtcp.RtcpError:
            self.rtcp_errors += 1
            return
        for packet in packets:
            if isinstance(packet, rtcp.Nack):
                sender = self._by_ssrc.get(packet.media_ssrc)
                if sender is not None:
                    self._retransmit(sender, packet.lost())
            elif isinstance(packet, rtcp.Pli | rtcp.Fir):
                self._keyframe_request(now)
            elif isinstance(packet, rtcp.ReceiverReport | rtcp.SenderReport):
                for block in packet.reports:
                    target = self._by_ssrc.get(block.ssrc)
                    if target is not None:
                        target.rr = block

    def _retransmit(self, sender: TrackSender, lost: list[int]) -> None:
        for seq in lost:
            data = sender.history(seq)
            if data is None:
                continue
            try:
                self.ice.send(self._protect(data))
                sender.retransmitted += 1
            except (pylibsrtp.Error, OSError, ValueError):
                self.send_errors += 1

    def _keyframe_request(self, now: float) -> None:
        if now - self._last_keyframe_request < KEYFRAME_MIN_INTERVAL:
            return
        self._last_keyframe_request = now
        if self.on_keyframe_request is not None:
            try:
                self.on_keyframe_request()
            except Exception:  # the owner's bug must not break this peer's packet handling
                log.exception("on_keyframe_request callback failed")

    def _after_dtls(self) -> None:
        dtls = self.dtls
        if dtls is None:
            return
        for datagram in dtls.data_to_send(self.clock()):
            with contextlib.suppress(OSError, ConnectionError):
                self.ice.send(datagram)
        while (event := dtls.next_event()) is not None:
            if isinstance(event, DtlsConnected):
                self._connected(event)
            elif isinstance(event, DtlsFailed):
                metrics.DTLS_FAILURES.inc()
                info = (
                    events.DTLS_FINGERPRINT_ERROR
                    if event.fingerprint_mismatch
                    else (events.DTLS_ERROR)
                )
                log.info("DTLS failed: %s", event.detail)
                self._set_state(events.FAILED, info)
            elif isinstance(event, DtlsClosed):
                self._set_state(events.CLOSED, "closed by the viewer")

    def _connected(self, event: DtlsConnected) -> None:
        from wcs.rtp.srtp import SrtpContext

        srtp = SrtpContext(event.srtp_profile, event.local_key, event.remote_key)
        self.srtp_profile = event.srtp_profile
        self._protect = srtp.protect
        self._protect_rtcp = srtp.protect_rtcp
        self._unprotect_rtcp = srtp.unprotect_rtcp
        self._dormant = dict(self.senders)  # live at the first packet (send_rtp)
        self._keyed = True
        self._set_state(events.CONNECTED)
        # The newcomer needs a keyframe to start decoding.
        self._keyframe_request(self.clock())

    # --- state --------------------------------------------------------------------------

    def _set_state(self, state: str, info: str = "") -> None:
        if state == self.state or self.state in (events.CLOSED, events.FAILED):
            return
        self.state = state
        self.info = info
        if state in (events.CONNECTED, events.CLOSED, events.FAILED):
            self._settled.set()
        if state in (events.CLOSED, events.FAILED):
            self._active, self._dormant, self._keyed = {}, {}, False
            if self._pump is not None:  # started: stop the timer, free the port
                self._pump.close()
                if self._finishing is None:
                    self._finishing = asyncio.ensure_future(self._shutdown())
        if self.on_state is not None:
            try:
                self.on_state(events.PeerStateChanged(state, info))
            except Exception:  # as above: a callback error changes nothing here
                log.exception("on_state callback failed")

    async def _shutdown(self) -> None:
        if self.dtls is not None:
            self.dtls.close()
            for datagram in self.dtls.data_to_send(self.clock()):
                with contextlib.suppress(OSError, ConnectionError):
                    self.ice.send(datagram)
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.ice.close()
