"""VP8 (RFC 7741) depacketizing and VP8 → H.264 transcoding, on frames libvpx made."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from wcs.media.h264.nal import NAL_SPS, nal_type
from wcs.media.h264.sps import parse_sps
from wcs.media.vp8 import Vp8Depacketizer, descriptor_length, keyframe_size
from wcs.media.vp8_h264 import Vp8ToH264

W, H = 160, 120


def vp8_frames(n: int, gop: int = 25) -> list[tuple[bytes, bool]]:
    enc = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = W, H, "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.bit_rate = 300_000
    enc.gop_size = gop
    enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    out: list[tuple[bytes, bool]] = []
    for i in range(n):
        img = np.zeros((H, W, 3), np.uint8)
        img[:, (i * 4) % W : (i * 4) % W + 8] = 255
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out += [(bytes(p), bool(p.is_keyframe)) for p in enc.encode(frame)]
    return out


def packetize(frame: bytes, size: int = 300, picture_id: int | None = 5) -> list[bytes]:
    """RFC 7741 payloads: S on the first, a 15-bit PictureID when given."""
    out = []
    for i in range(0, len(frame), size):
        first = 0x10 if i == 0 else 0
        if picture_id is None:
            out.append(bytes([first]) + frame[i : i + size])
        else:
            desc = bytes([0x80 | first, 0x80, 0x80 | (picture_id >> 8), picture_id & 0xFF])
            out.append(desc + frame[i : i + size])
    return out


def test_descriptor_lengths() -> None:
    assert descriptor_length(b"\x10\x00") == 1
    assert descriptor_length(bytes([0x90, 0x80, 0x05, 0])) == 3  # 7-bit PictureID
    assert descriptor_length(bytes([0x90, 0x80, 0x85, 0x01, 0])) == 4  # 15-bit
    assert descriptor_length(bytes([0x90, 0xF0, 0x05, 0x01, 0x02, 0])) == 5  # I, L, T/K
    for cut in (b"", b"\x80", bytes([0x90, 0x80])):
        try:
            descriptor_length(cut)
        except ValueError:
            continue
        raise AssertionError(f"{cut!r} accepted")


def test_frames_reassembled_key_flags_and_size() -> None:
    frames = vp8_frames(30)
    dep = Vp8Depacketizer()
    seq, got = 100, []
    for n, (frame, _key) in enumerate(frames):
        packets = packetize(frame, picture_id=n if n % 2 else None)
        for i, payload in enumerate(packets):
            got += dep.push(payload, seq & 0xFFFF, n * 3600, i == len(packets) - 1)
            seq += 1
    assert [au.nals[0] for au in got] == [f for f, _ in frames]
    assert [au.keyframe for au in got] == [k for _, k in frames]
    assert got[0].keyframe and keyframe_size(got[0].nals[0]) == (W, H)
    assert keyframe_size(got[1].nals[0]) is None
    assert not dep.needs_keyframe and dep.stats.access_units == len(frames)


def test_loss_drops_frames_until_the_next_key_frame() -> None:
    frames = vp8_frames(30, gop=10)
    dep = Vp8Depacketizer()
    seq, got = 0, []
    for n, (frame, _key) in enumerate(frames):
        packets = packetize(frame, size=100)
        for i, payload in enumerate(packets):
            seq += 1
            if n == 3 and i == 0:
                continue  # the start of frame 3 is lost
            got += dep.push(payload, seq, n * 3600, i == len(packets) - 1)
        if n == 4:  # the gap is seen by the next packet at the latest
            assert dep.needs_keyframe
    expected = [frames[i][0] for i in (0, 1, 2, *range(10, 30))]  # 3..9 need the lost one
    assert [au.nals[0] for au in got] == expected
    assert got[3].keyframe
    # 4..9, and 3 itself when more than its lost first packet arrived
    assert dep.stats.lost == 1 and dep.stats.dropped == (7 if len(frames[3][0]) > 100 else 6)


def test_transcoder_makes_decodable_h264_with_idr_at_key_frames_and_interval() -> None:
    frames = vp8_frames(100, gop=1000)  # one VP8 key frame only
    t = Vp8ToH264(keyframe_interval=1.0)
    units = []
    for n, (frame, key) in enumerate(frames):
        units += t.feed(frame, key, 1000.0 + n * 40)
    assert len(units) == 100 and t.errors == 0
    keys = [round(pts) for au, pts in units if au.keyframe]
    assert keys == [1000, 2000, 3000, 4000], keys  # the input's key frame, then each second
    first = units[0][0]
    sps = next(n for n in first.nals if nal_type(n) == NAL_SPS)
    info = parse_sps(sps)
    assert (info.width, info.height) == (W, H)
    assert units[5][0].timestamp == (1000 + 5 * 40) * 90
    decoder = av.CodecContext.create("h264", "r")
    decoded = 0
    for au, _ in units:
        decoded += len(decoder.decode(av.Packet(au.annexb())))
    decoded += len(decoder.decode(None))
    assert decoded == 100
