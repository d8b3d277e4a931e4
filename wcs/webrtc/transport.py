"""What every browser peer connection shares: ICE, DTLS-SRTP keying, life cycle, one timer.

:class:`SecurePeer` is the part of a viewer (:class:`wcs.webrtc.peer.ViewerPeer`, send-only)
and of a publisher (:class:`wcs.webrtc.ingest.PublisherPeer`, receive-only) that does not
depend on the direction of the media: it binds one UDP port (in the media port range), runs
ICE as the controlled agent, the DTLS handshake in the role the offer leaves us, and turns
the exported keys into SRTP contexts. State changes reach ``on_state(PeerStateChanged)``:
connecting → connected (DTLS done) → closed or failed (with a WCS info string); on closed or
failed the timer stops and the port is freed.

The peer is a sans-IO core (``get_timer``/``handle_timer``, see :mod:`wcs.sansio`) driven by
one :class:`~wcs.sansio.Pump` once started: the ICE timeout until ICE completes, then the
DTLS retransmission, the consent deadlines and whatever the subclass adds
(:meth:`_media_timer` / :meth:`_handle_media_timer`).

Consent (RFC 7675): we send a check every 4-6 s on the selected pair and fail the peer
("Failed by ICE keep-alive") when none was answered for 30 s, or when nothing at all came
from the peer for ``consent_timeout``. These deadlines and the subclass's are not urgent:
they go on the shared 1 s grid (:func:`wcs.sansio.on_grid`), so the timers of all peers
fire in one loop iteration instead of waking an idle server once per peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wcs.observability import metrics
from wcs.rtp.srtp import SrtpContext
from wcs.sansio import GRID, Pump, on_grid

from . import events
from .answer import LocalCandidate, MediaChoice, build_answer
from .certificate import Certificate
from .demux import DTLS, RTP, classify
from .dtls import (
    HANDSHAKE_TIMEOUT,
    DtlsClosed,
    DtlsConnected,
    DtlsError,
    DtlsFailed,
    DtlsSession,
)
from .ice import IceTransport
from .offer import Offer, OfferError

log = logging.getLogger(__name__)

CONSENT_CHECK_STEPS = (4, 5)  # grid steps (s) from one check to the next: 4-6 s, RFC 7675 5.1
CONSENT_EXPIRY = 30.0  # no check answered this long: consent is lost (RFC 7675 5.1)


@dataclass(frozen=True, slots=True)
class PeerSettings:
    """A WebRTC peer's certificate, ports and timeouts: the same for every viewer and
    publisher of a server (``port_range``: None, any port)."""

    certificate: Certificate
    bind_ip: str = "0.0.0.0"
    public_ip: str = ""
    port_range: tuple[int, int] | None = None
    ice_timeout: float = 30.0
    consent_timeout: float = 30.0


class SecurePeer:
    def __init__(
        self,
        offer: Offer,
        settings: PeerSettings,
        *,
        on_state: Callable[[events.PeerStateChanged], None] | None = None,
        answer_setup: str = "active",
        dtls_timeout: float = HANDSHAKE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.offer = offer
        if not any(m.rtcp_mux for m in offer.media):
            raise OfferError("the offer does not support rtcp-mux")
        # Our DTLS role from the offer's a=setup (RFC 5763 5): we answer "active" (DTLS
        # client) to actpass unless told otherwise, "passive" to active.
        if offer.setup == "active":
            self.setup = "passive"
        elif offer.setup == "passive":
            self.setup = "active"
        else:
            if answer_setup not in ("active", "passive"):
                raise ValueError("answer_setup must be 'active' or 'passive'")
            self.setup = answer_setup
        self.certificate = certificate = settings.certificate
        self.on_state = on_state
        self.ice_timeout = settings.ice_timeout
        self.consent_timeout = settings.consent_timeout
        self.clock = clock
        self.state = events.NEW
        self.info = ""
        self.ice = IceTransport(
            self._on_datagram,
            bind_ip=settings.bind_ip,
            public_ip=settings.public_ip,
            port_range=settings.port_range,
            clock=clock,
        )
        # Made now, not when ICE completes: as DTLS server we may get the ClientHello in
        # the same breath as the nomination. A fingerprint hash we cannot check is an
        # unanswerable offer.
        try:
            self.dtls: DtlsSession | None = DtlsSession(
                certificate,
                self.setup == "active",
                offer.fingerprints,
                handshake_timeout=dtls_timeout,
            )
        except DtlsError as exc:
            raise OfferError(str(exc)) from exc
        self.srtp_profile = ""
        self._settled = asyncio.Event()  # set once connected, closed or failed
        self._keyed = False  # SRTP keys exist and the peer is live: SRTP/SRTCP is read
        self._task: asyncio.Task[None] | None = None
        self._pump: Pump[SecurePeer] | None = None
        self._finishing: asyncio.Future[None] | None = None
        self._ice_deadline: float | None = None  # from start() until ICE completes
        self._consent_due: float | None = None  # our next consent check, once ICE completed
        self.answer = ""

    # --- what a subclass provides -------------------------------------------------------

    def _build_answer(self, candidates: list[LocalCandidate]) -> str:
        raise NotImplementedError

    def _answer_sdp(
        self, choices: list[MediaChoice], candidates: list[LocalCandidate], **media: Any
    ) -> str:
        """The answer with our transport (ICE credentials, candidates, fingerprint, role);
        ``media``: the rest of :func:`~wcs.webrtc.answer.build_answer`'s arguments."""
        return build_answer(
            self.offer,
            choices,
            ice_ufrag=self.ice.local_ufrag,
            ice_pwd=self.ice.local_pwd,
            candidates=candidates,
            fingerprint=self.certificate.fingerprint,
            setup=self.setup,
            **media,
        )

    def _on_keys(self, srtp: SrtpContext) -> None:
        """DTLS done: the SRTP contexts; called before the state becomes connected."""

    def _on_srtp(self, data: bytes) -> None:
        """One SRTP or SRTCP datagram from the selected pair, once keyed."""

    def _on_ended(self) -> None:
        """Closed or failed: stop using the keys (the port is being freed)."""

    def _media_timer(self, when: float) -> float:
        """The subclass's earliest deadline if before ``when``, else ``when``."""
        return when

    def _handle_media_timer(self, now: float) -> None:
        """Whatever of the subclass is due at ``now`` (connected, keyed)."""

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
        self.answer = self._build_answer(candidates)
        self._set_state(events.CONNECTING)
        self._ice_deadline = self.clock() + self.ice_timeout
        self._pump = Pump(self, self._transmit)
        self._task = asyncio.create_task(self._connect_ice())
        self._pump.wake()  # arms the ICE timeout
        return self.answer

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

    @property
    def port(self) -> int:
        """The bound UDP port (0 before start)."""
        return self.ice.port

    # --- the sans-IO core: one timer ----------------------------------------------------

    def get_timer(self) -> float | None:
        if self.state not in (events.CONNECTING, events.CONNECTED):
            return None
        if self._ice_deadline is not None:
            return self._ice_deadline
        ice = self.ice
        when = ice.last_rx + self.consent_timeout
        if self._consent_due is not None:  # our checks run (ICE completed)
            when = min(when, self._consent_due, ice.consent_at + CONSENT_EXPIRY)
        if self.state == events.CONNECTED:
            when = self._media_timer(when)
        when = on_grid(when)  # none of these is urgent: all peers' fire together
        dtls = self.dtls
        if dtls is not None and (at := dtls.get_timer()) is not None and at < when:
            when = at
        return when

    def handle_timer(self, now: float) -> None:
        """Whatever is due at ``now``: ICE timeout, consent expiry, DTLS, the media's.
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
        due = self._consent_due  # None until ICE completed: no checks of ours yet
        if now - self.ice.last_rx >= self.consent_timeout or (
            due is not None and now - self.ice.consent_at >= CONSENT_EXPIRY
        ):
            self._set_state(events.FAILED, events.ICE_KEEP_ALIVE)
            return
        if due is not None and now >= due:
            self.ice.check_consent()
            self._consent_due = self._next_consent_check(now)
        dtls = self.dtls
        if dtls is not None:
            timer = dtls.get_timer()
            if timer is not None and now >= timer:
                dtls.handle_timer(now)
                self._after_dtls()
        if self.state == events.CONNECTED:
            self._handle_media_timer(now)

    def next_event(self) -> None:
        return None  # state changes go to on_state

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
        self._ice_deadline = None  # consent, DTLS and the media's timers from now on
        self._consent_due = self._next_consent_check(self.clock())
        self.dtls.start(self.clock())  # a client sends ClientHello; a server may have begun
        self._wake()

    @staticmethod
    def _next_consent_check(now: float) -> float:
        """4-6 s after ``now``, on the grid: 4 or 5 steps after the next grid point."""
        return on_grid(now) + random.choice(CONSENT_CHECK_STEPS) * GRID

    def _candidates(self) -> list[str]:
        return [c for m in self.offer.media for c in m.candidates]

    # --- incoming -----------------------------------------------------------------------

    def _on_datagram(self, data: bytes) -> None:
        kind = classify(data)
        if kind == RTP:
            if self._keyed:
                self._on_srtp(data)
        elif kind == DTLS and self.dtls is not None:
            self.dtls.receive_datagram(data, self.clock())
            self._wake()

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
                info = events.DTLS_FINGERPRINT_ERROR if event.fingerprint_mismatch else None
                log.info("DTLS failed: %s", event.detail)
                self._set_state(events.FAILED, info or events.DTLS_ERROR)
            elif isinstance(event, DtlsClosed):
                self._set_state(events.CLOSED, "closed by the peer")

    def _connected(self, event: DtlsConnected) -> None:
        srtp = SrtpContext(event.srtp_profile, event.local_key, event.remote_key)
        self.srtp_profile = event.srtp_profile
        self._on_keys(srtp)
        self._keyed = True
        self._set_state(events.CONNECTED)

    # --- state --------------------------------------------------------------------------

    def _set_state(self, state: str, info: str = "") -> None:
        if state == self.state or self.state in (events.CLOSED, events.FAILED):
            return
        self.state = state
        self.info = info
        if state in (events.CONNECTED, events.CLOSED, events.FAILED):
            self._settled.set()
        if state in (events.CLOSED, events.FAILED):
            self._keyed = False
            self._on_ended()
            if self._pump is not None:  # started: stop the timer, free the port
                self._pump.close()
                if self._finishing is None:
                    self._finishing = asyncio.ensure_future(self._shutdown())
        if self.on_state is not None:
            try:
                self.on_state(events.PeerStateChanged(state, info))
            except Exception:  # a callback error changes nothing here
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
