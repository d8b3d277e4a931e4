"""ViewerPeer: one browser playing a stream over WebRTC (send-only, BUNDLE, rtcp-mux).

Life cycle: ``ViewerPeer(offer, tracks, ...)`` negotiates (raises ``OfferError``), ``await
start()`` binds and returns the answer SDP, then ICE → DTLS run in the background.
State changes reach ``on_state(PeerStateChanged)``: connecting → connected (DTLS done) →
closed or failed (with a WCS info string). ``on_keyframe_request()`` is called when the
viewer asks for a picture (PLI/FIR, at most once per 500 ms) and once on connect, so the
source can send a keyframe to the newcomer.

Per packet, ``send_rtp(kind, packet)`` is flat: rewrite, one protect, one sendto. Packets
given before the peer is connected are dropped.

ICE, DTLS-SRTP, the life cycle and the one timer are :class:`wcs.webrtc.transport.SecurePeer`'s;
this adds the RTCP sender reports to that timer, every second on the shared grid (all
viewers' reports go out in one loop iteration). Sender reports run from the first packet
sent on: a viewer of a paused stream sleeps until consent is due.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

import pylibsrtp

from wcs.observability import metrics
from wcs.rtp import rtcp
from wcs.rtp.srtp import SrtpContext
from wcs.rtp.srtp_seal import plain
from wcs.sansio import GRID, on_grid

from . import events
from .answer import LocalCandidate, MediaChoice, SourceTrack, negotiate
from .demux import is_rtcp
from .dtls import DtlsConnected
from .offer import OfferError, parse_offer
from .sender import TrackSender
from .transport import PeerSettings, SecurePeer

log = logging.getLogger(__name__)

SR_INTERVAL = 1.0
KEYFRAME_MIN_INTERVAL = 0.5


class ViewerPeer(SecurePeer):
    def __init__(
        self,
        offer_sdp: str,
        tracks: list[SourceTrack],
        settings: PeerSettings,
        *,
        on_state: Callable[[events.PeerStateChanged], None] | None = None,
        on_keyframe_request: Callable[[], None] | None = None,
        answer_setup: str = "active",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        offer = parse_offer(offer_sdp)
        self.choices: list[MediaChoice] = negotiate(offer, tracks)
        if not any(c.accepted for c in self.choices):
            raise OfferError(events.NO_COMMON_CODECS)
        super().__init__(offer, settings, on_state=on_state, answer_setup=answer_setup, clock=clock)
        self.on_keyframe_request = on_keyframe_request
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
        self._active: dict[str, TrackSender] = {}  # filled at the first packet sent
        # Keyed but nothing sent yet: the senders wait here, and sender reports wait too.
        self._dormant: dict[str, TrackSender] = {}
        self._protect: Callable[[bytes], bytes] = bytes
        # The hot path writes each packet into the sealer's buffer and sends it sealed.
        sealer = plain()
        self._seal_buffer = sealer.buffer
        self._seal = sealer.seal
        self._protect_rtcp: Callable[[bytes], bytes] = bytes
        self._unprotect_rtcp: Callable[[bytes], bytes] = bytes
        self._next_sr = 0.0
        self._last_keyframe_request = -1e9
        self.send_errors = 0
        self.rtcp_errors = 0

    def _build_answer(self, candidates: list[LocalCandidate]) -> str:
        return self._answer_sdp(
            self.choices, candidates, stream_id=self.stream_id, cname=self.cname
        )

    # --- public -------------------------------------------------------------------------

    def send_rtp(self, kind: str, packet: bytes) -> None:
        """Forward one source RTP packet of track ``kind`` ("audio"/"video") to the viewer."""
        sender = self._active.get(kind)
        if sender is None:
            if not self._dormant:
                return
            sender = self._first_packet(kind)
            if sender is None:
                return
        n = sender.rewrite_into(packet, self._seal_buffer)
        if not n:
            return
        try:
            self.ice.send(self._seal(n))
        except (pylibsrtp.Error, OSError, ValueError):
            self.send_errors += 1

    def _first_packet(self, kind: str) -> TrackSender | None:
        """Media starts: the senders go live and sender reports are due from now on."""
        self._active, self._dormant = self._dormant, {}
        self._next_sr = self.clock()
        self._wake()
        return self._active.get(kind)

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

    # --- the media's part of the one timer -----------------------------------------------

    def _media_timer(self, when: float) -> float:
        if self._active and self._next_sr < when:
            return self._next_sr
        return when

    def _handle_media_timer(self, now: float) -> None:
        if self._active and now >= self._next_sr:
            # On the shared grid (SecurePeer rounds this deadline up): one interval after
            # the grid point just served, the loop's lateness (under half a step) forgiven.
            self._next_sr = on_grid(now + SR_INTERVAL - GRID / 2)
            self.send_sender_reports()

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

    def _on_srtp(self, data: bytes) -> None:
        if is_rtcp(data):
            self._on_rtcp(data)

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

    def _on_keys(self, srtp: SrtpContext) -> None:
        self._protect = srtp.protect
        self._seal_buffer, self._seal = srtp.sealer.buffer, srtp.sealer.seal
        self._protect_rtcp = srtp.protect_rtcp
        self._unprotect_rtcp = srtp.unprotect_rtcp
        self._dormant = dict(self.senders)  # live at the first packet (send_rtp)

    def _connected(self, event: DtlsConnected) -> None:
        super()._connected(event)
        # The newcomer needs a keyframe to start decoding.
        self._keyframe_request(self.clock())

    def _on_ended(self) -> None:
        self._active, self._dormant = {}, {}
