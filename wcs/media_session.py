"""The media side of one SIP call: its RTP ports and the SDP offer/answer state.

The call owns one :class:`CallMedia`; closing it releases the ports on every exit path.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from wcs import sdp
from wcs.rtp.ports import MediaPorts, PortAllocator

if TYPE_CHECKING:
    from wcs.calls import Call

log = logging.getLogger(__name__)


class CallMedia:
    def __init__(
        self, call_id: str, ports: PortAllocator, public_ip: str, has_audio: bool, has_video: bool
    ) -> None:
        self.call_id = call_id
        self.public_ip = public_ip
        self.audio_ports: MediaPorts | None = None
        self.video_ports: MediaPorts | None = None
        try:
            if has_audio:
                self.audio_ports = ports.allocate_pair()
            if has_video:
                self.video_ports = ports.allocate_pair()
        except Exception:
            self.close("ports")
            raise
        self.session_id = secrets.randbits(31)
        self.version = 0
        self.local: sdp.SessionDescription | None = None
        self.remote: sdp.SessionDescription | None = None
        self.negotiated: list[sdp.NegotiatedMedia] = []
        self.closed = False

    def _build_offer(self) -> sdp.SessionDescription:
        return sdp.build_offer(
            self.public_ip,
            self.audio_ports.rtp_port if self.audio_ports else None,
            self.video_ports.rtp_port if self.video_ports else None,
            direction="sendrecv",
            session_id=self.session_id,
            session_version=self.version,
        )

    def offer(self) -> bytes:
        self.local = self._build_offer()
        return str(self.local).encode()

    def on_remote_sdp(self, body: bytes, final: bool) -> None:
        """An answer (or early-media SDP) to our offer."""
        if self.local is None:
            return
        try:
            remote = sdp.SessionDescription.parse(body.decode("utf-8", "replace"))
            self.negotiated = sdp.negotiate_answer(self.local, remote)
        except sdp.SdpError as exc:
            log.warning("call %s: unusable SDP answer: %s", self.call_id, exc)
            return
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

    def answer_remote_offer(self, body: bytes | None) -> tuple[bytes | None, bool]:
        """Answer a re-INVITE/UPDATE offer; an offerless re-INVITE gets a fresh offer."""
        if self.local is None:
            return None, False
        self.version += 1
        if body is None:
            self.local = self._build_offer()
            return str(self.local).encode(), False
        try:
            offer = sdp.SessionDescription.parse(body.decode("utf-8", "replace"))
        except sdp.SdpError as exc:
            log.warning("call %s: unusable re-offer: %s", self.call_id, exc)
            return None, False
        caps = {m.kind: m.codecs for m in self.local.media}
        ports = {}
        if self.audio_ports:
            ports["audio"] = self.audio_ports.rtp_port
        if self.video_ports:
            ports["video"] = self.video_ports.rtp_port
        try:
            answer = sdp.answer_offer(offer, caps, self.public_ip, ports, previous=self.local)
        except sdp.SdpError as exc:
            log.warning("call %s: cannot answer re-offer: %s", self.call_id, exc)
            return None, False
        live = [m for m in offer.media if not m.rejected]
        hold = bool(live) and all(
            sdp.is_hold(m, offer) or sdp.direction_of(m, offer) in ("sendonly", "inactive")
            for m in live
        )
        self.remote = offer
        self.local = answer
        return str(answer).encode(), hold

    def close(self, reason: str) -> None:
        self.closed = True
        for ports in (self.audio_ports, self.video_ports):
            if ports is not None:
                ports.release()


class CallMediaFactory:
    def __init__(self, ports: PortAllocator, public_ip: str) -> None:
        self.ports = ports
        self.public_ip = public_ip

    def __call__(self, call: Call) -> CallMedia:
        r = call.request
        return CallMedia(r.call_id, self.ports, self.public_ip, r.has_audio, r.has_video)
