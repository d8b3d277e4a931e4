"""A VP8 stream's video as H.264 RTP for a call that negotiated H.264 (PyAV, per injection).

RTP in (RFC 7741 VP8 packets as the publisher sent them), RTP out: H.264 packets (RFC 6184
mode 1, FU-A/STAP-A, on a source timestamp = the VP8 one) that the call's
:class:`~wcs.rtp.video_forward.VideoForwarder` re-stamps like any injected H.264 (and
repacketizes for a mode 0 call). Frames are assembled from the payload descriptors (start:
S=1 and partition 0; end: the marker bit); a gap in the sequence numbers drops the frame and
everything up to the next keyframe (the source is asked for one). Each decoded picture is
encoded by libx264 (constrained baseline, zero latency: the first picture and each
:meth:`force_keyframe` are IDR with SPS/PPS).

It runs on the event loop: a few ms per picture at small sizes, the cost of one injected
call's video; measured in ``bench/bench_inject.py``.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any

import av

from wcs.media.h264.nal import split_annexb
from wcs.media.h264.packetizer import H264Packetizer
from wcs.rtp.packet import payload_span, seq_ts_ssrc
from wcs.rtp.send_state import SendState

log = logging.getLogger(__name__)

H264_FMTP = "packetization-mode=1;profile-level-id=42e01f"  # what the output is
_MAX_FRAME = 4 * 1024 * 1024  # a VP8 frame larger than this is dropped


def vp8_descriptor(payload: bytes) -> tuple[int, bool, bool] | None:
    """(descriptor length, start of a partition, partition 0) of a VP8 RTP payload."""
    if not payload:
        return None
    b0 = payload[0]
    pos = 1
    if b0 & 0x80:  # X: extension byte
        if len(payload) < 2:
            return None
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: picture ID, 7 or 15 bits
            if len(payload) <= pos:
                return None
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX
            pos += 1
    if pos >= len(payload):
        return None
    return pos, bool(b0 & 0x10), (b0 & 0x07) == 0


class Vp8ToH264:
    def __init__(self, fps_hint: int = 30) -> None:
        self._decoder: Any = av.CodecContext.create("vp8", "r")
        self._encoder: Any = None
        self._fps = fps_hint
        self._packetizer = H264Packetizer(mtu=1200, mode=1)
        self._out = SendState(0x5650_3831, 0, 0)  # a source stream of our own ("VP81")
        self._frame = bytearray()
        self._frame_ts: int | None = None
        self._next_seq: int | None = None
        self._broken = True  # until a keyframe starts after a loss (and at the start)
        self._force_idr = True
        self._pts = 0
        self.pictures = 0
        self.errors = 0
        self.dropped_frames = 0

    def force_keyframe(self) -> None:
        """The next encoded picture is an IDR (the peer asked for a keyframe)."""
        self._force_idr = True

    @property
    def waiting_for_keyframe(self) -> bool:
        return self._broken

    def push(self, packet: bytes) -> list[bytes]:
        """One VP8 RTP packet; the H.264 RTP packets of a picture it completes."""
        if len(packet) < 12:
            return []
        start, end = payload_span(packet)
        if start < 0:
            return []
        seq, ts, _ = seq_ts_ssrc(packet)
        payload = packet[start:end]
        desc = vp8_descriptor(payload)
        if desc is None:
            return []
        skip, partition_start, first_partition = desc
        if self._next_seq is not None and seq != self._next_seq:
            self._frame.clear()
            self._frame_ts = None
            self._broken = True  # a hole: wait for the next keyframe
            self.dropped_frames += 1
        self._next_seq = (seq + 1) & 0xFFFF
        body = payload[skip:]
        if partition_start and first_partition:
            self._frame = bytearray(body)
            self._frame_ts = ts
            if self._broken and body and not body[0] & 0x01:  # P bit 0: a keyframe
                self._broken = False
        elif self._frame_ts == ts and len(self._frame) + len(body) <= _MAX_FRAME:
            self._frame += body
        else:
            return []
        if not packet[1] & 0x80 or self._broken:  # the marker ends the frame
            return []
        frame, self._frame_ts = bytes(self._frame), None
        self._frame.clear()
        return self._transcode(frame, ts)

    def _transcode(self, frame: bytes, ts: int) -> list[bytes]:
        try:
            pictures = self._decoder.decode(av.Packet(frame))
        except av.error.FFmpegError:
            self.errors += 1
            self._broken = True
            return []
        out: list[bytes] = []
        for picture in pictures:
            for data in self._encode(picture):
                payloads = self._packetizer.packetize(split_annexb(data))
                for i, p in enumerate(payloads):
                    out.append(self._out.packet(96, p, 0, marker=i == len(payloads) - 1,
                                                timestamp=ts))  # fmt: skip
        return out

    def _encode(self, picture: Any) -> list[bytes]:
        enc = self._encoder
        if enc is None or (enc.width, enc.height) != (picture.width, picture.height):
            enc = self._encoder = self._open(picture.width, picture.height)
            self._force_idr = True
        frame = picture.reformat(format="yuv420p")
        frame.pts = self._pts
        frame.time_base = Fraction(1, self._fps)
        self._pts += 1
        if self._force_idr:
            frame.pict_type = av.video.frame.PictureType.I
            self._force_idr = False
        self.pictures += 1
        return [bytes(p) for p in enc.encode(frame)]

    def _open(self, width: int, height: int) -> Any:
        ctx: Any = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, self._fps)
        ctx.framerate = Fraction(self._fps, 1)
        ctx.profile = "baseline"
        ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "forced-idr": "1",
                       "x264-params": f"keyint={4 * self._fps}:repeat-headers=1"}  # fmt: skip
        ctx.open()
        return ctx


__all__ = ["H264_FMTP", "Vp8ToH264", "vp8_descriptor"]
