from __future__ import annotations

import itertools
import math
import struct

import av
import pytest

from wcs.rtmp.aac import AacEncoder
from wcs.rtmp.errors import RtmpError
from wcs.rtmp.flv import parse_audio_specific_config


def sine_blocks(rate: int, seconds: float, block_ms: int = 20, freq: float = 440.0) -> list[bytes]:
    n = rate * block_ms // 1000
    total = int(rate * seconds)
    samples = [int(12000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(total)]
    return [struct.pack(f"<{n}h", *samples[i : i + n]) for i in range(0, total - n + 1, n)]


def decode(asc: bytes, frames: list[bytes]) -> list[float]:
    ctx = av.CodecContext.create("aac", "r")
    ctx.extradata = asc
    out: list[float] = []
    for data in frames:
        for frame in ctx.decode(av.Packet(data)):
            out += frame.to_ndarray()[0].tolist()
    return out


def test_pcm_8k_to_aac_48k_decodes_to_the_same_tone() -> None:
    enc = AacEncoder(8000)
    assert parse_audio_specific_config(enc.audio_specific_config) == (2, 48000, 1)
    frames = []
    for i, block in enumerate(sine_blocks(8000, 1.0)):
        frames += enc.encode(block, 10_000 + 20 * i)
    frames += enc.flush()
    # 1 s at 48 kHz is 46.9 frames of 1024, plus the priming frame.
    assert 47 <= len(frames) <= 49
    stamps = [f.timestamp_ms for f in frames]
    assert stamps == sorted(stamps)
    assert stamps[0] == 10_000 - 21 and stamps[1] == 10_000  # priming frame first
    assert stamps[-1] - stamps[1] == pytest.approx(1024 * (len(frames) - 2) / 48, abs=1)
    pcm = decode(enc.audio_specific_config, [f.data for f in frames])
    middle = pcm[len(pcm) // 4 : 3 * len(pcm) // 4]
    crossings = sum(1 for a, b in itertools.pairwise(middle) if a < 0 <= b)
    seconds = len(middle) / 48000
    assert crossings / seconds == pytest.approx(440, rel=0.03)


def test_gap_is_filled_and_big_jump_reanchors() -> None:
    enc = AacEncoder(8000, tolerance_ms=60, max_fill_ms=1000)
    blocks = sine_blocks(8000, 0.4)
    frames = []
    for i, block in enumerate(blocks[:10]):
        frames += enc.encode(block, 20 * i)
    for i, block in enumerate(blocks[10:15]):
        frames += enc.encode(block, 200 + 300 + 20 * i)  # 300 ms lost
    assert enc.filled_ms == 300
    for i, block in enumerate(blocks[15:]):
        frames += enc.encode(block, 60_000 + 20 * i)  # source jumped a minute
    frames += enc.flush()
    assert enc.reanchors == 1
    assert frames[-1].timestamp_ms > 60_000
    before = [f.timestamp_ms for f in frames if f.timestamp_ms < 60_000]
    assert before == sorted(before) and max(before) < 1000


def test_48k_input_and_errors() -> None:
    enc = AacEncoder(48000, output_rate=44100)
    assert parse_audio_specific_config(enc.audio_specific_config)[1:] == (44100, 1)
    frames = []
    for i, block in enumerate(sine_blocks(48000, 0.5)):
        frames += enc.encode(block, 20 * i)
    assert len(frames) >= 19  # 0.5 s at 44.1 kHz ≈ 21.5 frames, some still buffered
    with pytest.raises(RtmpError):
        enc.encode(b"\x00", 0)
    with pytest.raises(RtmpError):
        AacEncoder(8000, output_rate=12345)
