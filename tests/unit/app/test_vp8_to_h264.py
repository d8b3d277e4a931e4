"""Vp8ToH264: VP8 RTP (RFC 7741) in, H.264 RTP out that decodes to the same picture size;
a lost packet waits for the next keyframe; descriptors with every optional field."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from wcs.app.vp8_to_h264 import Vp8ToH264, vp8_descriptor
from wcs.media.h264.depacketizer import H264Depacketizer
from wcs.rtp.packet import RtpPacket
from wcs.rtp.video_forward import starts_picture

W, H = 160, 120


def vp8_frames(n: int) -> list[bytes]:
    enc = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = W, H, "yuv420p"
    enc.time_base = Fraction(1, 30)
    enc.options = {"deadline": "realtime", "cpu-used": "8", "g": "10"}
    out = []
    for i in range(n):
        img = np.full((H, W, 3), (i * 8) % 255, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out += [bytes(p) for p in enc.encode(frame)]
    return out + [bytes(p) for p in enc.encode(None)]


def vp8_rtp(frames: list[bytes]) -> list[bytes]:
    packets, seq = [], 0
    for i, f in enumerate(frames):
        chunks = [f[j : j + 500] for j in range(0, len(f), 500)]
        for k, c in enumerate(chunks):
            desc = bytes([0x90 if k == 0 else 0x80, 0x80, i & 0x7F])  # X, I: 7-bit picture ID
            last = k == len(chunks) - 1
            packets.append(RtpPacket(100, seq, 3000 * i, 1, desc + c, last).serialize())
            seq += 1
    return packets


def test_descriptor_fields() -> None:
    assert vp8_descriptor(bytes([0x10, 0x9D])) == (1, True, True)
    assert vp8_descriptor(bytes([0x90, 0xF0, 0x81, 0x02, 0x05, 0x44, 0x9D])) == (6, True, True)
    assert vp8_descriptor(bytes([0x01, 0x00])) == (1, False, False)
    assert vp8_descriptor(b"") is None and vp8_descriptor(bytes([0x80])) is None


def test_vp8_becomes_decodable_h264_and_a_loss_waits_for_a_keyframe() -> None:
    t = Vp8ToH264()
    packets = vp8_rtp(vp8_frames(25))
    out: list[bytes] = []
    for p in packets:
        out += t.push(p)
    assert t.pictures >= 20 and t.errors == 0
    first = RtpPacket.parse(out[0])
    assert starts_picture(first.payload)  # SPS/PPS + IDR first
    dep = H264Depacketizer(None)
    dec = av.CodecContext.create("h264", "r")
    sizes = set()
    for raw in out:
        p = RtpPacket.parse(raw)
        for au in dep.push(p.payload, p.sequence, p.timestamp, p.marker):
            data = b"".join(b"\x00\x00\x00\x01" + n for n in au.nals)
            for picture in dec.decode(av.Packet(data)):
                sizes.add((picture.width, picture.height))
    assert sizes == {(W, H)}
    # A lost packet: nothing until the next VP8 keyframe (every 10 frames here).
    t2 = Vp8ToH264()
    got = [t2.push(p) for i, p in enumerate(packets) if i != 3]
    assert t2.waiting_for_keyframe is False and t2.dropped_frames == 1
    assert any(got) and sum(len(g) for g in got) < len(out)
