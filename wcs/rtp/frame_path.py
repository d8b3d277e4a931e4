"""The frame path of one RTP session (sans-IO): packets → access units or audio frames.

What recording, RTMP pushes, HLS/RTSP and snapshots consume: H.264 (or VP8) access units
from the depacketizer, audio frames by payload type. The depacketizer needs packets in
sequence order, so unless the session's jitter buffer already ordered them (then ``latency``
is None) a reorder buffer sits in front of it: a packet that overtook another waits for it at
most ``latency`` seconds (nothing waits on an in-order stream). Without it one reordering
counted as a loss and damaged its frame -- on a jittery link no frame at all was assembled.
Packet consumers (viewers) are not on this path: they get packets as received.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from wcs.media.audio import AudioCodec, AudioFrame, frame_from_rtp
from wcs.media.h264 import AccessUnit, H264Depacketizer
from wcs.media.vp8 import Vp8Depacketizer
from wcs.rtp.jitter import JitterBuffer
from wcs.rtp.packet import payload_span, seq_ts_ssrc


class FrameSink(Protocol):
    def on_video(self, au: AccessUnit, arrival: float) -> None: ...
    def on_audio(self, frame: AudioFrame, arrival: float) -> None: ...


class FramePath:
    def __init__(
        self,
        target: FrameSink,
        depacketizer: H264Depacketizer | None,
        *,
        latency: float | None,
        on_keyframe: Callable[[], None],
        wants_keyframe: Callable[[float], object],
    ) -> None:
        self.target = target
        self.depacketizer: H264Depacketizer | Vp8Depacketizer | None = depacketizer
        self.reorder = JitterBuffer[bytes](latency) if latency else None
        self.audio_codecs: Mapping[int, AudioCodec] = {}  # by payload type
        self.malformed = 0  # payloads that could not be framed
        self._on_keyframe = on_keyframe
        self._wants_keyframe = wants_keyframe

    def push(self, data: bytes, pt: int, seq: int, ts: int, now: float) -> None:
        rb = self.reorder
        if rb is None:
            self._frame(data, pt, seq, ts, now)
            return
        rb.push(seq, ts, now, data)
        for p in rb.pop_ready(now):
            self._frame_packet(p, now)

    def deadline(self) -> float | None:
        return self.reorder.next_deadline() if self.reorder is not None else None

    def handle_timer(self, now: float) -> None:
        if self.reorder is not None and len(self.reorder):
            for p in self.reorder.pop_ready(now):
                self._frame_packet(p, now)

    def new_source(self, now: float) -> None:
        """The sender's SSRC changed: what was held or half-assembled belongs to the old
        sequence space; parameter sets carry over."""
        if self.reorder is not None:
            for p in self.reorder.flush():
                self._frame_packet(p, now)
        if self.depacketizer is not None:
            self.depacketizer.flush()
            self.depacketizer = self.depacketizer.successor()

    def stop(self) -> None:
        if self.reorder is not None:
            self.reorder.flush()

    def _frame_packet(self, data: bytes, now: float) -> None:
        seq, ts, _ = seq_ts_ssrc(data)
        self._frame(data, data[1] & 0x7F, seq, ts, now)

    def _frame(self, data: bytes, pt: int, seq: int, ts: int, now: float) -> None:
        start, end = payload_span(data)
        if start < 0:
            self.malformed += 1
            return
        payload = data[start:end]
        dep = self.depacketizer
        if dep is not None:
            for au in dep.push(payload, seq, ts, data[1] >= 0x80):
                if au.keyframe:
                    self._on_keyframe()
                self.target.on_video(au, now)
            if dep.needs_keyframe:
                self._wants_keyframe(now)
            return
        codec = self.audio_codecs.get(pt)
        if codec is None or not payload:
            return
        try:
            frame = frame_from_rtp(codec, payload, ts)
        except ValueError:
            self.malformed += 1
            return
        self.target.on_audio(frame, now)
