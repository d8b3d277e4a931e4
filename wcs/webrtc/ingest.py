"""PublisherPeer: one browser (or WHIP client) sending a stream to us (receive-only, BUNDLE).

ICE, DTLS-SRTP, the life cycle and the one timer are :class:`~wcs.webrtc.transport.SecurePeer`'s.
What arrives, once keyed, is SRTP-unprotected and handed by payload type to one
:class:`wcs.rtp.session.RtpSession` per accepted m-line -- the same receive path as a SIP
call's: statistics, SR alignment, H.264 depacketization, Opus framing and the keyframe
ladder (PLI, then FIR) -- whose sink (``sink``, a :class:`wcs.rtp.session.MediaSink`) is
the stream's :class:`wcs.app.stream_feed.StreamFeed`. Its RTCP (receiver reports, PLI/FIR)
is SRTCP-protected and sent on the selected pair.

Feedback of our own on the same timer: NACK for missing video packets
(:class:`~wcs.webrtc.ingest_feedback.NackList`) and a REMB every second
(:class:`~wcs.webrtc.ingest_feedback.BitrateEstimate`). VP8 is forwarded as packets; its
frames go to :class:`wcs.app.vp8_stage.Vp8Stage` (H.264 for recording and RTMP, on
demand). With ``jitter_latency`` (the calls' jitter buffer setting) packets are reordered
first; without it the frame path alone reorders within ``reorder_latency`` (setting
``frame_reorder_ms``): either way NACKed video packets that come back in time are put back
in place before the depacketizer (else it drops them as late and the frame with them).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

import pylibsrtp

from wcs import netaddr, sdp
from wcs.media.vp8 import Vp8Depacketizer
from wcs.observability import metrics
from wcs.rtp import rtcp
from wcs.rtp.packet import seq_ts_ssrc
from wcs.rtp.session import MediaSink, RtpSession
from wcs.rtp.srtp import SrtpContext

from . import events
from .answer import LocalCandidate, MediaChoice
from .demux import is_rtcp
from .ingest_answer import INGEST_FEEDBACK, negotiate_ingest
from .ingest_feedback import BitrateEstimate, NackList
from .offer import OfferError, parse_offer
from .transport import PeerSettings, SecurePeer

log = logging.getLogger(__name__)

# RtpSession wants a peer address; ours is the selected ICE pair, whatever it is.
_PAIR = ("ice", 0)


class PublisherPeer(SecurePeer):
    def __init__(
        self,
        offer_sdp: str,
        sink: MediaSink,
        settings: PeerSettings,
        *,
        on_state: Callable[[events.PeerStateChanged], None] | None = None,
        dtls_timeout: float = 30.0,
        jitter_latency: float | None = None,
        reorder_latency: float | None = None,
        bitrate: BitrateEstimate | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        offer = parse_offer(offer_sdp)
        self.choices: list[MediaChoice] = negotiate_ingest(offer)
        if not any(c.accepted for c in self.choices):
            raise OfferError(events.NO_COMMON_CODECS)
        super().__init__(offer, settings, on_state=on_state, dtls_timeout=dtls_timeout, clock=clock)
        self.cname = secrets.token_hex(8)
        self.sessions: dict[str, RtpSession] = {}
        self._by_pt: dict[int, RtpSession] = {}
        for choice in self.choices:
            codec = choice.codec
            if codec is None:
                continue
            media = sdp.NegotiatedMedia(
                choice.index,
                choice.kind,
                rejected=False,
                direction="recvonly",
                remote_address=_PAIR,
                rtcp_mux=True,
                receive_codec=codec,
                codecs=[(codec, codec)],
            )
            session = RtpSession(
                media,
                sink,
                local_ssrc=choice.ssrc,
                cname=self.cname,
                init_packets=False,
                send_silence=False,
                jitter_latency=jitter_latency,
                reorder_latency=reorder_latency,
            )
            if codec.name.lower() == "vp8":
                session.depacketizer = Vp8Depacketizer()  # whole frames, for transcoding
            elif codec.name.lower() != "h264":
                session.depacketizer = None
            self.sessions[choice.kind] = session
            self._by_pt[codec.payload_type] = session
        video = self.sessions.get("video")
        self._video_pt = video.codec.payload_type if video is not None else -1
        self.nacks = NackList()
        self.estimate = bitrate or BitrateEstimate()
        self._unprotect: Callable[[bytes], bytes] = bytes
        self._unprotect_rtcp: Callable[[bytes], bytes] = bytes
        self._protect_rtcp: Callable[[bytes], bytes] = bytes
        self.srtp_errors = 0
        self.send_errors = 0

    def _build_answer(self, candidates: list[LocalCandidate]) -> str:
        return self._answer_sdp(
            self.choices,
            candidates,
            stream_id="",
            cname=self.cname,
            direction="recvonly",
            feedback=INGEST_FEEDBACK,
        )

    # --- what the stream's users ask ----------------------------------------------------

    def request_keyframe(self) -> None:
        """A consumer needs a picture: PLI (then FIR), rate-limited by the session."""
        video = self.sessions.get("video")
        if video is None or not self._keyed:
            return
        video.request_keyframe(self.clock())
        self._flush(video)

    def stats(self) -> dict[str, dict[str, object]]:
        now = self.clock()
        out = {kind: s.snapshot(now) for kind, s in self.sessions.items()}
        # The sessions know only a placeholder peer: the selected ICE pair is the real one.
        remote = (
            netaddr.hostport(self.ice.remote_host, self.ice.remote_port)
            if self.ice.remote_host
            else None
        )
        for snapshot in out.values():
            snapshot["remote"] = remote
        if "video" in out:
            out["video"]["nackRequested"] = self.nacks.requested
            out["video"]["nackRecovered"] = self.nacks.recovered
            out["video"]["remb"] = self.estimate.bitrate
        return out

    # --- the media's part of the one timer -----------------------------------------------

    def _media_timer(self, when: float) -> float:
        for session in self.sessions.values():
            at = session.get_timer()
            if at is not None and at < when:
                when = at
        for at in (self.nacks.get_timer(), self.estimate.next_at):
            if at is not None and at < when:
                when = at
        return when

    def _handle_media_timer(self, now: float) -> None:
        for session in self.sessions.values():
            session.handle_timer(now)
            self._flush(session)
        self._send_nacks(now)
        at = self.estimate.next_at
        if at is not None and now >= at and self._video_pt >= 0:
            self._send_remb(self.estimate.update(now))

    # --- incoming -----------------------------------------------------------------------

    def _on_keys(self, srtp: SrtpContext) -> None:
        self._unprotect = srtp.unprotect
        self._unprotect_rtcp = srtp.unprotect_rtcp
        self._protect_rtcp = srtp.protect_rtcp
        now = self.clock()
        for session in self.sessions.values():
            session.start(now)

    def _on_srtp(self, data: bytes) -> None:
        now = self.clock()
        if is_rtcp(data):
            try:
                plain = self._unprotect_rtcp(data)
            except (pylibsrtp.Error, ValueError, TypeError):
                self.srtp_errors += 1
                metrics.SRTP_FAILURES.inc()
                return
            for session in self.sessions.values():
                session.receive_rtcp(plain, _PAIR, now)
            return
        try:
            plain = self._unprotect(data)
        except (pylibsrtp.Error, ValueError, TypeError):
            # Also a replayed index: a retransmission we already got.
            self.srtp_errors += 1
            return
        target = self._by_pt.get(plain[1] & 0x7F)
        if target is None:
            return
        target.receive_rtp(plain, _PAIR, now)
        if target.has_output:
            self._flush(target)
        if target.jitter is not None or target.frames.deadline() is not None:
            self._wake()  # a buffer's release deadline (the frame path's: a held packet)
        if plain[1] & 0x7F == self._video_pt:
            seq = seq_ts_ssrc(plain)[0]
            gap = self.nacks.receive(seq, now)
            if self.nacks.highest is not None:
                self.estimate.receive(self.nacks.highest)
            if self.estimate.next_at is None:
                # The first REMB as soon as it can name the SSRC: start from a sane rate.
                self._send_remb(self.estimate.update(now))
                self._wake()
            elif gap:
                self._send_nacks(now)
                self._wake()  # the retry deadline is new

    # --- outgoing RTCP ------------------------------------------------------------------

    def _flush(self, session: RtpSession) -> None:
        for data, _ in session.datagrams_to_send(self.clock()):
            self._send_rtcp(data)
        while session.next_event() is not None:
            pass  # KeyframeInfoNeeded: a browser has no SIP INFO; PLI/FIR go on

    def _send_nacks(self, now: float) -> None:
        video = self.sessions.get("video")
        lost = self.nacks.due(now)
        if video is None or not lost:
            return
        media_ssrc = video.ssrc or 0
        self._send_rtcp(rtcp.Nack.from_lost(video.local_ssrc, media_ssrc, lost).serialize())

    def _send_remb(self, bitrate: int) -> None:
        video = self.sessions["video"]
        ssrcs = [video.ssrc] if video.ssrc is not None else []
        self._send_rtcp(rtcp.Remb(video.local_ssrc, bitrate, ssrcs).serialize())

    def _send_rtcp(self, data: bytes) -> None:
        if not self._keyed:
            return
        try:
            self.ice.send(self._protect_rtcp(data))
        except (pylibsrtp.Error, OSError, ValueError):
            self.send_errors += 1

    def _on_ended(self) -> None:
        for session in self.sessions.values():
            session.stop()
