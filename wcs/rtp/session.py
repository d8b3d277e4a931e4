"""One negotiated m-line's RTP/RTCP session with a SIP peer (sans-IO).

The contract of :mod:`wcs.sansio` (``receive_rtp``/``receive_rtcp``, ``handle_timer``,
``datagrams_to_send``: RTP port, ``rtcp_datagrams_to_send``: separate RTCP port,
``next_event``: :mod:`wcs.rtp.events`); received media goes to a :class:`MediaSink`.

Per RTP packet: header check, payload type filter, source validation (only the peer's source
reaches the stream; symmetric RTP latches after probation), per-SSRC statistics, the optional
jitter buffer, handed on as a packet and to the :class:`FramePath` (access units, frames).

Towards the peer: init packets once its address is known (WCS known issue 1), the audio's
:class:`OutgoingAudio` (DTMF, a sound, an injected stream or silence, on one
:class:`SendState`), an injected stream's video (``video_out``: a :class:`VideoForwarder`;
the peer's PLI/FIR go to it), RTCP SR/RR with SDES, keyframe requests (PLI, FIR; then
:class:`KeyframeInfoNeeded`). The peer's RFC 4733 events go to a :class:`DtmfReceiver`.
"""

from __future__ import annotations

import logging
import random
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from wcs import sdp
from wcs.media.audio import AudioFrame, codecs_by_payload_type
from wcs.media.dtmf import DtmfSettings
from wcs.media.h264 import AccessUnit, H264Depacketizer
from wcs.media.vp8 import Vp8Depacketizer
from wcs.rtp import keepalive, rtcp
from wcs.rtp.dtmf import DtmfReceiver
from wcs.rtp.events import KeyframeInfoNeeded, RtpEvent
from wcs.rtp.frame_path import FramePath
from wcs.rtp.jitter import JitterBuffer
from wcs.rtp.keyframe import FIR, INFO, PLI, KeyframeRequester
from wcs.rtp.outgoing_audio import OutgoingAudio, outgoing_audio_for
from wcs.rtp.packet import seq_ts_ssrc
from wcs.rtp.send_state import SendState
from wcs.rtp.snapshot import session_snapshot
from wcs.rtp.source_guard import ACCEPT, HOLD, GuardConfig, SourceGuard
from wcs.rtp.sr import SenderClock, seconds_to_ntp, signed32
from wcs.rtp.stats import ReceiveStatistics
from wcs.rtp.video_forward import VideoForwarder
from wcs.sansio import on_grid
from wcs.sdp.telephone_event import event_receive_rates

log = logging.getLogger(__name__)

Address = tuple[str, int]

RTCP_INTERVAL = 5.0  # RFC 3550 6.2 Tmin: a two-party call's computed interval is below it
# 6.3.1: randomise to [0.5, 1.5] x T so that calls started together (a batch of REST startups)
# do not report in lockstep, divided by e - 3/2 to compensate the timer reconsideration.
_RTCP_COMPENSATION = 1.21828
INIT_PACKETS = 3
TS_JUMP_SECONDS = 10.0  # a larger timestamp step on one SSRC re-anchors the media clock


class MediaSink(Protocol):
    def on_rtp(self, kind: str, packet: bytes, timestamp: int) -> None: ...
    def on_video(self, au: AccessUnit, arrival: float) -> None: ...
    def on_audio(self, frame: AudioFrame, arrival: float) -> None: ...
    def on_rebase(self, kind: str, timestamp: int, arrival: float) -> None: ...
    def on_sender_clock(self, kind: str, clock: SenderClock) -> None: ...


class RtpSession:
    def __init__(
        self,
        media: sdp.NegotiatedMedia,
        target: MediaSink,
        *,
        local_ssrc: int,
        cname: str,
        jitter_latency: float | None = None,
        reorder_latency: float | None = None,
        init_packets: bool = True,
        send_silence: bool = True,
        silence_early: float = 0.0,
        wallclock: Callable[[], float] = time.time,
        keyframe_interval: float = 1.0,
        rng: Callable[[], float] = random.random,
        guard: GuardConfig | None = None,
        dtmf: DtmfSettings | None = None,
    ) -> None:
        if media.receive_codec is None:
            raise ValueError("m-line without a receive codec")
        self.kind = media.kind
        self.media = media
        self.target = target
        self.codec = media.receive_codec
        self.dtmf = DtmfReceiver()
        self.local_ssrc = local_ssrc
        self.cname = cname
        self.remote_rtp: Address | None = media.remote_address
        self.remote_rtcp: Address | None = (
            media.remote_address if media.rtcp_mux else media.remote_rtcp_address
        )
        self.latched_rtp = self.latched_rtcp = False
        self.guard = SourceGuard(media.remote_address, guard)
        max_sources = self.guard.config.max_sources
        self.stats = ReceiveStatistics(self.codec.clock_rate, max_sources=max_sources)
        self._expire_at: float | None = None  # when a candidate or an old source may expire
        self.jitter = JitterBuffer[bytes](jitter_latency) if jitter_latency is not None else None
        self.keyframes = KeyframeRequester(keyframe_interval)
        sprop = self.codec.parameters.get("sprop-parameter-sets")
        self.frames = FramePath(
            target,
            H264Depacketizer(sprop) if self.kind == "video" else None,
            latency=reorder_latency if self.jitter is None else None,  # ordered already
            on_keyframe=self.keyframes.on_keyframe,
            wants_keyframe=self.request_keyframe,
        )
        self._events: deque[RtpEvent] = deque()
        self._wallclock, self._rng = wallclock, rng
        self._rtp_out: list[tuple[bytes, Address]] = []
        self._rtcp_out: list[tuple[bytes, Address]] = []
        self.init_packets = init_packets
        # Our sending side: one SSRC, sequence space and clock for everything we send.
        seq0 = int.from_bytes(local_ssrc.to_bytes(4, "big")[:2], "big")
        self.send_state = SendState(local_ssrc, seq0, local_ssrc & 0xFFFF)
        self._set_payload_types(media)
        self.audio: OutgoingAudio | None = None
        if self.kind == "audio":
            self.audio = outgoing_audio_for(media, self.send_state, send_silence=send_silence,
                                            silence_early=silence_early, dtmf=dtmf)  # fmt: skip
        self.video_out: VideoForwarder | None = None  # an injected stream's video
        self.sending = media.direction in ("sendrecv", "sendonly")
        self._next_rtcp: float | None = None
        # Receive bookkeeping.
        self.ssrc: int | None = None
        self._last_ts = 0
        self.last_rtp: float | None = None
        self._malformed = 0
        self.unknown_pt = 0
        self.rtcp_received = 0
        self.sender_reports = 0
        self.started = False

    @property
    def sending(self) -> bool:
        """False while the peer holds us (its answer is sendonly/inactive for us)."""
        return self._sending

    @sending.setter
    def sending(self, value: bool) -> None:
        self._sending = value
        if self.audio is not None:
            self.audio.sending = value  # nothing goes out, the clock runs on

    # ------------------------------------------------------------------ lifecycle
    def start(self, now: float) -> None:
        """The peer's address is known: open the path and start reporting."""
        if self.started:
            return
        self.started = True
        self.guard.restart(now)
        self._next_rtcp = now + 0.5  # a first report soon, so the peer learns our CNAME
        if self.init_packets and self.sending:
            for _ in range(INIT_PACKETS):
                self._send_init()
        if self.audio is not None:
            self.audio.start(now + self.audio.interval)

    def update(self, media: sdp.NegotiatedMedia, now: float | None = None) -> None:
        """A new answer for this m-line (final after early media, re-INVITE)."""
        if media.remote_address is not None and media.remote_address != self.media.remote_address:
            # The peer moved its media (transfer, SBC): its SDP wins over what we latched,
            # until its packets show the real source again.
            self.latched_rtp = self.latched_rtcp = False
        self.guard.restart(now, media.remote_address)
        self.media = media
        if not self.latched_rtp and media.remote_address is not None:
            self.remote_rtp = media.remote_address
        if not self.latched_rtcp:
            self.remote_rtcp = media.remote_address if media.rtcp_mux else media.remote_rtcp_address
        self._set_payload_types(media)
        if self.audio is not None:
            self.audio.renegotiated(media)
        self.sending = media.direction in ("sendrecv", "sendonly")

    def _set_payload_types(self, media: sdp.NegotiatedMedia) -> None:
        self.payload_types = pts = media.receive_payload_types
        self.frames.audio_codecs = codecs_by_payload_type((pt, c.name) for pt, c in pts.items())
        self.dtmf.set_payload_types(event_receive_rates(media))
        self._te_rates = self.dtmf.payload_types

    def send_early(self, now: float) -> None:
        """The call is awake anyway (a packet arrived): the next audio slot goes now if it is
        silence due soon (:meth:`OutgoingAudio.send_early`), sparing its timer's wake-up."""
        audio, addr = self.audio, self.remote_rtp
        if audio is not None and addr is not None and audio.send_early(now):
            self._rtp_out.extend((p, addr) for p in audio.packets_to_send(now))

    # ------------------------------------------------------------------ receive
    def receive_rtp(self, data: bytes, addr: Address, now: float) -> None:
        n = len(data)
        if n < 12 or data[0] >> 6 != 2:
            self._malformed += 1
            return
        b1 = data[1]
        if 192 <= b1 <= 223:  # RTCP on the RTP port (rtcp-mux)
            self.receive_rtcp(data, addr, now)
            return
        pt = b1 & 0x7F
        if pt not in self.payload_types:
            self.unknown_pt += 1
            return
        seq, ts, ssrc = seq_ts_ssrc(data)
        if (ssrc != self.ssrc or addr != self.guard.source) and not self._admit(
            data, addr, ssrc, seq, ts, now
        ):
            return
        self._receive(data, pt, seq, ts, ssrc, now)

    def _admit(self, data: bytes, addr: Address, ssrc: int, seq: int, ts: int, now: float) -> bool:
        """Not the accepted source: the guard decides (a promoted source's held packets first)."""
        verdict = self.guard.admit(data, addr, ssrc, seq, now, self.last_rtp)
        if verdict != ACCEPT:
            if verdict == HOLD:
                self._expire_soon(now)
            return False
        if addr != self.remote_rtp:
            self._latch_rtp(addr)
        held = self.guard.take_released()
        if ssrc != self.ssrc:
            first_ts = seq_ts_ssrc(held[0])[1] if held else ts
            if self.ssrc is not None:
                self._expire_soon(now)  # the old source's statistics
            self._new_source(ssrc, first_ts, now)
            self._last_ts = first_ts
        for p in held:
            p_seq, p_ts, _ = seq_ts_ssrc(p)
            self._receive(p, p[1] & 0x7F, p_seq, p_ts, ssrc, now)
        return True

    def _receive(self, data: bytes, pt: int, seq: int, ts: int, ssrc: int, now: float) -> None:
        self.last_rtp = now
        self.stats.on_rtp(ssrc, seq, ts, now, len(data))
        if abs(signed32(ts - self._last_ts)) > TS_JUMP_SECONDS * self.codec.clock_rate:
            self.target.on_rebase(self.kind, ts, now)
        self._last_ts = ts
        jb = self.jitter
        if jb is None:
            self._process(data, pt, seq, ts, now)
            return
        jb.push(seq, ts, now, data)
        for p in jb.pop_ready(now):
            self._process_packet(p, now)

    def _new_source(self, ssrc: int, ts: int, now: float) -> None:
        if self.ssrc is not None:
            log.info("%s: SSRC %08x -> %08x", self.kind, self.ssrc, ssrc)
            # A new sequence space: whatever was buffered or half-assembled belongs to the old one.
            if self.jitter is not None:
                for p in self.jitter.flush():
                    self._process_packet(p, now)
            self.frames.new_source(now)
            self.target.on_rebase(self.kind, ts, now)
        self.ssrc = ssrc

    def _process_packet(self, data: bytes, now: float) -> None:
        seq, ts, _ = seq_ts_ssrc(data)
        self._process(data, data[1] & 0x7F, seq, ts, now)

    def _process(self, data: bytes, pt: int, seq: int, ts: int, now: float) -> None:
        if pt in self._te_rates:
            self.dtmf.receive_rtp(data, now)  # DTMF: not media for the stream
            return
        self.target.on_rtp(self.kind, data, ts)
        self.frames.push(data, pt, seq, ts, now)

    def receive_rtcp(self, data: bytes, addr: Address, now: float) -> None:
        try:
            packets = rtcp.parse_compound(data)
        except (rtcp.RtcpError, ValueError, struct.error):
            self._malformed += 1
            return
        if not self.guard.trusts_host(addr[0]):
            self.guard.dropped += 1  # RTCP from a stranger: no latching, no BYE, no SR
            return
        self.rtcp_received += 1
        if addr != self.remote_rtcp:
            if self.remote_rtcp is not None:
                log.info(
                    "%s: RTCP from %s:%d (SDP said %s:%d)", self.kind, *addr, *self.remote_rtcp
                )
            self.remote_rtcp = addr
            self.latched_rtcp = True
        for p in packets:
            if isinstance(p, rtcp.SenderReport):
                self.sender_reports += 1
                if p.ssrc not in self.stats.sources:
                    continue  # an SR for a source we do not receive must not create state
                self.stats.on_sender_report(p, now)
                if p.ssrc == self.ssrc:
                    self.target.on_sender_clock(self.kind, self.stats.sources[p.ssrc].clock)
            elif isinstance(p, rtcp.Bye):
                # The accepted source stays (it may come back after a re-INVITE; the call's
                # BYE ends the session); any other SSRC's state goes now.
                for ssrc in p.ssrcs:
                    self.guard.on_bye(ssrc)
                    if ssrc != self.ssrc:
                        self.stats.on_bye(ssrc)
            elif isinstance(p, rtcp.Pli | rtcp.Fir) and self.video_out is not None:
                self.video_out.keyframe_wanted()

    def _latch_rtp(self, addr: Address) -> None:
        if self.remote_rtp is not None:
            log.info(
                "%s: RTP from %s:%d, SDP said %s:%d: sending there",
                self.kind,
                *addr,
                *self.remote_rtp,
            )
        self.remote_rtp = addr
        self.latched_rtp = True
        if not self.media.rtcp_mux and not self.latched_rtcp:
            # RTCP follows the RTP source's port + 1 until RTCP itself arrives.
            self.remote_rtcp = (addr[0], addr[1] + 1)

    # ------------------------------------------------------------------ keyframes
    def request_keyframe(self, now: float) -> str | None:
        """Send the next request of the ladder unless rate-limited; returns what was sent."""
        if self.kind != "video":
            return None
        kind = self.keyframes.request(now)
        if kind is None:
            return None
        media_ssrc = self.ssrc or 0
        if kind == PLI:
            self._send_rtcp(rtcp.Pli(self.local_ssrc, media_ssrc).serialize())
        elif kind == FIR:
            seq = self.keyframes.sent[FIR] & 0xFF
            self._send_rtcp(rtcp.Fir(self.local_ssrc, [(media_ssrc, seq)]).serialize())
        elif kind == INFO:
            self._events.append(KeyframeInfoNeeded(self.kind))
        return kind

    def forward_video(self, data: bytes | AccessUnit) -> bool:
        """An injected stream's packet or access unit onto our video; False: not sent."""
        fwd, addr = self.video_out, self.remote_rtp
        out = fwd.send(data) if fwd is not None and self.sending and addr else []
        self._rtp_out.extend((p, addr) for p in out if addr is not None)
        return bool(out)

    # ------------------------------------------------------------------ sans-IO output
    @property
    def has_output(self) -> bool:
        return bool(self._rtp_out or self._rtcp_out)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """What leaves the RTP port (RTCP too under rtcp-mux), oldest first."""
        out, self._rtp_out = self._rtp_out, []
        return out

    def rtcp_datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """What leaves the separate RTCP port (always empty under rtcp-mux)."""
        out, self._rtcp_out = self._rtcp_out, []
        return out

    def next_event(self) -> RtpEvent | None:
        if self._events:
            return self._events.popleft()
        key = self.dtmf.next_event()
        if key is not None:
            return key
        return self.audio.next_event() if self.audio is not None else None

    # ------------------------------------------------------------------ timers
    def get_timer(self) -> float | None:
        # Asked after every receive batch: no temporary lists.
        when = _earliest(_earliest(self._next_rtcp, self.dtmf.get_timer()), self._expire_at)
        if self.audio is not None:
            when = _earliest(when, self.audio.get_timer())
        if self.jitter is not None:
            return _earliest(when, self.jitter.next_deadline())
        return _earliest(when, self.frames.deadline())

    def handle_timer(self, now: float) -> None:
        if self._expire_at is not None and now >= self._expire_at:
            self._expire_at = self.guard.expire(now, self.stats)
        if self.jitter is not None and len(self.jitter):
            for p in self.jitter.pop_ready(now):
                self._process_packet(p, now)
        self.frames.handle_timer(now)
        self.dtmf.handle_timer(now)
        audio = self.audio
        if audio is not None:
            audio.handle_timer(now)
            packets = audio.packets_to_send(now)
            if packets and self.remote_rtp is not None:
                addr = self.remote_rtp
                self._rtp_out.extend((p, addr) for p in packets)
        if self._next_rtcp is not None and now >= self._next_rtcp:
            self._send_report(now)
            # On the shared 1 s grid: every call's reports in one loop iteration.
            self._next_rtcp = on_grid(now + self.rtcp_interval())

    def _expire_soon(self, now: float) -> None:
        if self._expire_at is None:
            self._expire_at = now + self.guard.config.timeout

    def rtcp_interval(self) -> float:
        """Seconds to the next report (RFC 3550 6.3.1, A.7 with T = Tmin)."""
        return RTCP_INTERVAL * (0.5 + self._rng()) / _RTCP_COMPENSATION

    def stop(self) -> None:
        """On close: send an RTCP BYE and stop the timers."""
        if self.started and self.remote_rtcp is not None:
            self._send_rtcp(rtcp.Bye([self.local_ssrc]).serialize())
        self._next_rtcp = None
        if self.audio is not None:
            self.audio.stop()
        if self.jitter is not None:
            self.jitter.flush()
        self.frames.stop()

    # ------------------------------------------------------------------ send
    def _send_init(self) -> None:
        codec, enc = self.media.send_codec, self.audio.encoder if self.audio else None
        if self.remote_rtp is None or codec is None or (enc is None and self.kind == "audio"):
            return  # (audio in a codec we cannot encode: nothing, as for its silence)
        payload, step = (enc.silence(), enc.step) if enc else (keepalive.FILLER, 0)
        packet = self.send_state.packet(codec.payload_type, payload, step, marker=enc is None)
        self._rtp_out.append((packet, self.remote_rtp))

    def _send_report(self, now: float) -> None:
        blocks = self.stats.report_blocks(now)
        report: rtcp.SenderReport | rtcp.ReceiverReport
        st = self.send_state
        if st.packets:
            ntp = seconds_to_ntp(self._wallclock())
            rtp_time = st.timestamp if self.audio is None else self.audio.rtp_time(now)
            report = rtcp.SenderReport(self.local_ssrc, ntp, rtp_time, st.packets, st.octets,
                                       blocks)  # fmt: skip
        else:
            report = rtcp.ReceiverReport(self.local_ssrc, blocks)
        sdes = rtcp.Sdes.cname_for(self.local_ssrc, self.cname)
        self._send_rtcp(report.serialize() + sdes.serialize())

    def _send_rtcp(self, data: bytes) -> None:
        if self.remote_rtcp is not None:
            target = self._rtp_out if self.media.rtcp_mux else self._rtcp_out
            target.append((data, self.remote_rtcp))

    @property
    def depacketizer(self) -> H264Depacketizer | Vp8Depacketizer | None:
        return self.frames.depacketizer

    @depacketizer.setter
    def depacketizer(self, dep: H264Depacketizer | Vp8Depacketizer | None) -> None:
        self.frames.depacketizer = dep  # a WebRTC publisher's VP8, or none

    @property
    def malformed(self) -> int:
        return self._malformed + self.frames.malformed

    def snapshot(self, now: float) -> dict[str, object]:
        return session_snapshot(self, now)


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None or a <= b else b
