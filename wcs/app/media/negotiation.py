"""A call's SDP offer/answer: our offer, the peer's answer, and re-offers (re-INVITE/UPDATE).

Pure: SDP bodies in, SDP bodies, :class:`sdp.NegotiatedMedia` and SDES keys out. What a
result means for the running RTP sessions (new address, payload types, hold, SRTP keys) is the
core's business.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from wcs import sdp
from wcs.app.media.dtls_srtp import DtlsSrtp
from wcs.app.media.sdes import SdesKeying, SrtpKeys
from wcs.sdp.sdes import SdesError
from wcs.sdp.telephone_event import with_telephone_events

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReOffer:
    """An accepted re-offer: our answer, the peer's offer and whether it puts us on hold."""

    offer: sdp.SessionDescription
    answer: sdp.SessionDescription
    negotiated: list[sdp.NegotiatedMedia]
    hold: bool
    keys: dict[str, SrtpKeys]


class Negotiation:
    def __init__(
        self,
        call_id: str,
        public_ip: str,
        ports: Mapping[str, int],
        keying: SdesKeying | None = None,
        dtls: DtlsSrtp | None = None,
    ) -> None:
        self.call_id = call_id
        self.keying = keying or SdesKeying(call_id)
        self.dtls = dtls  # DTLS-SRTP instead of SDES
        self.public_ip = public_ip
        self.ports = dict(ports)  # kind -> our RTP port
        self.session_id = secrets.randbits(31)
        self.version = 0
        self.local: sdp.SessionDescription | None = None
        self.remote: sdp.SessionDescription | None = None
        self.negotiated: list[sdp.NegotiatedMedia] = []
        self.keys: dict[str, SrtpKeys] = {}  # kind -> SRTP keys; absent: plain RTP
        self.refusal: str | None = None  # why the last answer was refused (SRTP policy)

    def offer(self, direction: str = "sendrecv") -> bytes:
        self.local = self._build_offer(direction)
        if self.dtls is not None:
            self.dtls.decorate_offer(self.local)
        else:
            self.keying.decorate_offer(self.local)
        return str(self.local).encode()

    def _build_offer(self, direction: str) -> sdp.SessionDescription:
        # telephone-event for each audio clock offered (8000 for G.711, 48000 for Opus), so
        # the peer can send keys on the clock of whichever codec it picks (issue 19).
        return sdp.build_offer(
            self.public_ip,
            self.ports.get("audio"),
            self.ports.get("video"),
            direction=direction,
            session_id=self.session_id,
            session_version=self.version,
            audio_codecs=with_telephone_events(sdp.default_audio_codecs()),
        )

    def re_offer(self, direction: str, running: Mapping[str, sdp.Codec]) -> bytes | None:
        """Our re-INVITE's offer (hold: ``sendonly``, unhold: ``sendrecv``): a new version,
        the running codecs only (the stream's sinks were set up for them) with their
        telephone-events; None before the first answer."""
        if self.local is None or self.remote is None:
            return None
        self.version += 1
        offer = self._build_offer(direction)
        for m in offer.media:
            codec = running.get(m.kind)
            if codec is not None:
                m.codecs = [c for c in m.codecs if c.payload_type == codec.payload_type] + [
                    c
                    for c in m.codecs
                    if c.name.lower() == "telephone-event" and c.clock_rate == codec.clock_rate
                ]
        self.local = offer
        return str(offer).encode()

    def on_answer(self, body: bytes) -> bool:
        """The peer's answer (or early-media SDP) to our offer; False: unusable, nothing kept."""
        if self.local is None:
            return False
        try:
            remote = sdp.SessionDescription.parse(body.decode("utf-8", "replace"))
            negotiated = sdp.negotiate_answer(self.local, remote)
            self.keys = self.keying.on_answer(self.local, remote)
        except SdesError as exc:
            log.warning("call %s: SDP answer refused: %s", self.call_id, exc)
            self.refusal = str(exc)
            return False
        except sdp.SdpError as exc:
            log.warning("call %s: unusable SDP answer: %s", self.call_id, exc)
            return False
        self.negotiated = negotiated
        self.remote = remote
        for m in self.negotiated:
            if not m.rejected and m.receive_codec is not None:
                log.info(
                    "call %s: %s %s/%d from %s:%d",
                    self.call_id,
                    m.kind,
                    m.receive_codec.name,
                    m.receive_codec.clock_rate,
                    *(m.remote_address or ("?", 0)),
                )
        return True

    def fresh_offer(self) -> bytes | None:
        """An offerless re-INVITE: our new offer (a new session version)."""
        if self.local is None:
            return None
        self.version += 1
        return self.offer()

    def answer(self, body: bytes, running: Mapping[str, sdp.Codec]) -> ReOffer | None:
        """Answer a re-offer; None: refuse it (488) and keep the session as it was.

        A running m-line (``running``: kind -> its codec) keeps its codec: the stream's
        viewers, pushes and recordings were set up for it. An offer without it is refused
        (RFC 3261 14.2).
        """
        if self.local is None:
            return None
        self.version += 1
        try:
            offer = sdp.SessionDescription.parse(body.decode("utf-8", "replace"))
        except sdp.SdpError as exc:
            log.warning("call %s: unusable re-offer: %s", self.call_id, exc)
            return None
        caps: dict[str, list[sdp.Codec]] = {}
        for m in self.local.media:
            codec = running.get(m.kind)
            if codec is None:
                caps[m.kind] = list(m.codecs)
            else:
                caps[m.kind] = [codec] + [
                    c for c in m.codecs if c.name.lower() == "telephone-event"
                ]
        try:
            answer = sdp.answer_offer(offer, caps, self.public_ip, self.ports, previous=self.local)
            negotiated = sdp.negotiate_answer(answer, offer)
            keys: dict[str, SrtpKeys] = {}
            if self.dtls is not None and self.remote is None:
                self.dtls.answer_offer(offer, answer)  # an incoming call's INVITE
            elif self.dtls is not None:
                self.dtls.answer_reoffer(offer, answer)
            else:
                keys = self.keying.answer(offer, answer, self.keys)
        except sdp.SdpError as exc:
            log.warning("call %s: cannot answer re-offer: %s", self.call_id, exc)
            return None
        for offered, answered in zip(offer.media, answer.media, strict=True):
            if offered.kind in running and not offered.rejected and answered.rejected:
                log.warning(
                    "call %s: re-offer without the running %s codec %s: 488",
                    self.call_id,
                    offered.kind,
                    running[offered.kind].name,
                )
                return None
        live = [m for m in offer.media if not m.rejected]
        hold = bool(live) and all(
            sdp.is_hold(m, offer) or sdp.direction_of(m, offer) in ("sendonly", "inactive")
            for m in live
        )
        self.remote = offer
        self.local = answer
        self.negotiated = negotiated
        self.keys = keys
        return ReOffer(offer, answer, negotiated, hold, keys)
