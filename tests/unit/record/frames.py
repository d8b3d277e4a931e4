"""Frames for recorder tests without a server: the callee's audio and video of
conformance/traces/02-call-av.pcap through the project's depacketizer, with pts on a media
clock, and synthetic H.264 (libx264 through PyAV) with a short GOP for rotation tests."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from wcs.media.audio import PCMU, AudioFrame, frame_from_rtp, ulaw_encode
from wcs.media.clock import MediaClock
from wcs.media.h264 import AccessUnit, H264Depacketizer, split_annexb
from wcs.pcap import read_pcap

TRACE = Path(__file__).resolve().parents[3] / "conformance" / "traces" / "02-call-av.pcap"


@dataclass(frozen=True, slots=True)
class Frame:
    kind: str  # "video" | "audio"
    pts: float
    au: AccessUnit | None = None
    audio: AudioFrame | None = None


def trace_frames() -> list[Frame]:
    """The callee → caller media of the trace in arrival order (46 pictures, 153 PCMU)."""
    ports: dict[str, dict[str, int]] = {}
    packets = []
    for p in read_pcap(TRACE):
        if p.proto != "udp":
            continue
        head = p.payload[:12]
        if head.startswith((b"INVITE ", b"SIP/2.0 200")) and b"m=audio" in p.payload:
            body = p.payload.decode("utf-8", "replace")
            role = "caller" if head.startswith(b"INVITE") else "callee"
            ports[role] = {m: int(n) for m, n in re.findall(r"^m=(audio|video) (\d+)", body, re.M)}
        elif len(p.payload) >= 12 and p.payload[0] >> 6 == 2:
            packets.append(p)
    callee = ports["callee"]
    clock: MediaClock | None = None
    depack = H264Depacketizer()
    out: list[Frame] = []
    for p in packets:
        if p.src[1] not in (callee["audio"], callee["video"]) or p.dst[1] % 2:
            continue
        b0, b1, seq, ts, _ssrc = struct.unpack("!BBHII", p.payload[:12])
        payload = p.payload[12 + 4 * (b0 & 0x0F) :]
        if clock is None:
            clock = MediaClock(p.time)
        if p.src[1] == callee["video"]:
            for au in depack.push(payload, seq, ts, bool(b1 & 0x80)):
                out.append(Frame("video", clock.pts("video", au.timestamp, p.time, 90000), au))
        elif b1 & 0x7F == 0:
            frame = frame_from_rtp(PCMU, payload, ts)
            out.append(Frame("audio", clock.pts("audio", ts, p.time, 8000), audio=frame))
    return out


def synthetic_frames(seconds: float, fps: int = 25, gop: int = 10) -> list[Frame]:
    """libx264 pictures (a keyframe every ``gop``) and 20 ms PCMU frames, interleaved by pts."""
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height = 160, 120
    enc.pix_fmt = "yuv420p"
    enc.time_base = Fraction(1, fps)
    enc.gop_size = gop
    enc.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "bframes": "0",
        "keyint_min": str(gop),
        "sc_threshold": "0",
    }
    n = int(seconds * fps)
    packets = []
    for i in range(n):
        img = av.VideoFrame(160, 120, "yuv420p")
        for plane in img.planes:
            plane.update(bytes([(i * 7) % 256]) * plane.buffer_size)
        img.pts = i
        packets += enc.encode(img)
    packets += enc.encode(None)
    sps = pps = b""
    out: list[Frame] = []
    for i, pkt in enumerate(packets):
        nals = split_annexb(bytes(pkt))
        for nal in nals:
            if nal[0] & 0x1F == 7:
                sps = nal
            elif nal[0] & 0x1F == 8:
                pps = nal
        idr = any(nal[0] & 0x1F == 5 for nal in nals)
        if idr and not any(nal[0] & 0x1F == 7 for nal in nals):
            nals = [sps, pps, *nals]
        au = AccessUnit(i * 90000 // fps, nals, keyframe=idr)
        out.append(Frame("video", i * 1000 / fps, au))
    tone = ulaw_encode(b"".join(struct.pack("<h", (j % 16) * 1000 - 8000) for j in range(160)))
    for k in range(int(seconds * 50)):
        frame = AudioFrame("PCMU", k * 160, 8000, tone, 160)
        out.append(Frame("audio", k * 20.0 + 5.0, audio=frame))
    out.sort(key=lambda f: f.pts)
    return out
