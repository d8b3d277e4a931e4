"""DTLS-SRTP toward a SIP peer (RFC 5763/5764): ``UDP/TLS/RTP/SAVP`` with ``a=fingerprint``
and ``a=setup``, on the WebRTC DTLS core (:class:`wcs.webrtc.dtls.DtlsSession`).

Without ICE or rtcp-mux (what SIP peers such as baresip do), each m-line runs one DTLS
association on its RTP port and one on its RTCP port; the RTP one keys SRTP, the RTCP one
SRTCP. The peer's certificate must match the fingerprint of its (TLS-protected) SDP. Until
an association is up its component sends nothing: never a plaintext packet.

Sans-IO: datagrams and time in; datagrams (kind, RTCP or not), one deadline and events out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from wcs import sdp
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.dtls import DtlsConnected, DtlsError, DtlsFailed, DtlsSession

DTLS_PROTO = "UDP/TLS/RTP/SAVP"
Component = tuple[str, bool]  # (kind, on the RTCP port)


def is_dtls_proto(proto: str) -> bool:
    """``UDP/TLS/RTP/SAVP`` or ``…/SAVPF`` (what baresip's dtls_srtp offers)."""
    return proto.upper() in (DTLS_PROTO, DTLS_PROTO + "F")


def is_dtls(data: bytes) -> bool:
    """A DTLS record: first byte 20-63 (RFC 7983 §7)."""
    return bool(data) and 20 <= data[0] <= 63


@dataclass(frozen=True, slots=True)
class DtlsKeys:
    """A component's SRTP keys once its association is up."""

    kind: str
    rtcp: bool
    profile: str
    local_key: bytes
    remote_key: bytes


@dataclass(frozen=True, slots=True)
class DtlsSrtpFailed:
    info: str


class DtlsSrtp:
    def __init__(self, call_id: str, certificate: Certificate) -> None:
        self.call_id = call_id
        self.certificate = certificate
        self.sessions: dict[Component, DtlsSession] = {}
        self._events: deque[DtlsKeys | DtlsSrtpFailed] = deque()
        self._remote: dict[str, list[tuple[str, str]]] = {}

    # ------------------------------------------------------------------ SDP
    def decorate_offer(self, offer: sdp.SessionDescription) -> None:
        for m in offer.media:
            if m.is_rtp and not m.rejected:
                m.proto = DTLS_PROTO
                m.fingerprints = [sdp.Fingerprint("sha-256", self.certificate.fingerprint)]
                m.setup = "actpass"

    def on_answer(
        self, offer: sdp.SessionDescription, answer: sdp.SessionDescription, now: float
    ) -> None:
        """Start an association per live component; :class:`sdp.SdpError`: refuse it."""
        for ours, theirs in zip(offer.media, answer.media, strict=True):
            if ours.rejected or theirs.rejected or not ours.is_rtp:
                continue
            prints = theirs.fingerprints or answer.fingerprints
            if not prints:
                raise sdp.SdpError(f"DTLS-SRTP: the answer's {theirs.kind} has no a=fingerprint")
            setup = (theirs.setup or answer.setup or "active").lower()
            if setup not in ("active", "passive"):
                raise sdp.SdpError(f"DTLS-SRTP: bad a=setup:{setup[:20]} in the answer")
            remote = [(f.algorithm, f.value) for f in prints]
            if self._remote.get(ours.kind) == remote:
                continue  # the same peer again (early media, then the 200)
            self._remote[ours.kind] = remote
            components = [False] if ours.rtcp_mux and theirs.rtcp_mux else [False, True]
            for rtcp in components:
                try:
                    session = DtlsSession(self.certificate, setup == "passive", remote)
                except DtlsError as exc:
                    raise sdp.SdpError(f"DTLS-SRTP: {exc}") from None
                self.sessions[(ours.kind, rtcp)] = session
                session.start(now)

    def answer_reoffer(self, offer: sdp.SessionDescription, answer: sdp.SessionDescription) -> None:
        """A re-offer from the same peer keeps the associations; anything else is refused."""
        for offered, answered in zip(offer.media, answer.media, strict=True):
            if offered.rejected or answered.rejected or not offered.is_rtp:
                continue
            prints = [(f.algorithm, f.value) for f in offered.fingerprints or offer.fingerprints]
            if not is_dtls_proto(offered.proto) or prints != self._remote.get(offered.kind):
                raise sdp.SdpError("DTLS-SRTP: a re-offer must keep the peer's fingerprint")
            session = self.sessions.get((offered.kind, False))
            answered.fingerprints = [sdp.Fingerprint("sha-256", self.certificate.fingerprint)]
            answered.setup = "active" if session is not None and session.is_client else "passive"

    def answer_offer(self, offer: sdp.SessionDescription, answer: sdp.SessionDescription) -> None:
        """We are called with a DTLS-SRTP offer: key our ``answer`` (our fingerprint, the
        ``a=setup`` role RFC 5763 §5 gives the answerer); :meth:`start_answered` starts the
        associations once the answer is sent. :class:`sdp.SdpError`: refuse the offer (488)."""
        for offered, answered in zip(offer.media, answer.media, strict=True):
            if offered.rejected or answered.rejected or not offered.is_rtp:
                continue
            prints = offered.fingerprints or offer.fingerprints
            if not is_dtls_proto(offered.proto) or not prints:
                raise sdp.SdpError(f"DTLS-SRTP: the offer's {offered.kind} has no a=fingerprint")
            setup = (offered.setup or offer.setup or "actpass").lower()
            if setup not in ("actpass", "active", "passive"):
                raise sdp.SdpError(f"DTLS-SRTP: bad a=setup:{setup[:20]} in the offer")
            client = setup != "active"  # actpass: the answerer takes active (RFC 5763 §5)
            answered.fingerprints = [sdp.Fingerprint("sha-256", self.certificate.fingerprint)]
            answered.setup = "active" if client else "passive"
            remote = [(f.algorithm, f.value) for f in prints]
            self._remote[offered.kind] = remote
            mux = offered.rtcp_mux and answered.rtcp_mux
            for rtcp in [False] if mux else [False, True]:
                try:
                    session = DtlsSession(self.certificate, client, remote)
                except DtlsError as exc:
                    raise sdp.SdpError(f"DTLS-SRTP: {exc}") from None
                self.sessions[(offered.kind, rtcp)] = session

    def start_answered(self, now: float) -> None:
        """Our answer is sent: the associations :meth:`answer_offer` prepared start."""
        for session in self.sessions.values():
            session.start(now)

    # ------------------------------------------------------------------ sans-IO
    def receive(self, kind: str, rtcp: bool, data: bytes, now: float) -> None:
        session = self.sessions.get((kind, rtcp)) or self.sessions.get((kind, False))
        if session is not None:
            session.receive_datagram(data, now)
            self._collect()

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Component]]:
        out: list[tuple[bytes, Component]] = []
        for component, session in self.sessions.items():
            out.extend((d, component) for d in session.data_to_send(now))
        return out

    def get_timer(self) -> float | None:
        when = None
        for session in self.sessions.values():
            t = session.get_timer()
            if t is not None and (when is None or t < when):
                when = t
        return when

    def handle_timer(self, now: float) -> None:
        for session in self.sessions.values():
            session.handle_timer(now)
        self._collect()

    def next_event(self) -> DtlsKeys | DtlsSrtpFailed | None:
        return self._events.popleft() if self._events else None

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()

    def _collect(self) -> None:
        for (kind, rtcp), session in self.sessions.items():
            while (event := session.next_event()) is not None:
                if isinstance(event, DtlsConnected):
                    self._events.append(
                        DtlsKeys(kind, rtcp, event.srtp_profile, event.local_key, event.remote_key)
                    )
                elif isinstance(event, DtlsFailed):
                    self._events.append(DtlsSrtpFailed(f"DTLS-SRTP {kind}: {event.detail}"))
