from __future__ import annotations

import struct
import warnings

import pytest

from wcs.media import g711
from wcs.media.audio import (
    OPUS,
    PCMA,
    PCMU,
    STATIC_PAYLOAD_TYPES,
    TELEPHONE_EVENT,
    alaw_decode,
    alaw_encode,
    codec_by_name,
    frame_from_rtp,
    opus_duration,
    parse_telephone_event,
    split_g711,
    ulaw_decode,
    ulaw_encode,
)

ALL_PCM = b"".join(struct.pack("<h", s) for s in range(-32768, 32768))


def test_known_g711_values() -> None:
    # ITU-T G.711 tables: μ-law 0xFF/0x7F are ±0, 0x00/0x80 the extremes; A-law 0xD5/0x55 ±8.
    assert g711.ULAW_DECODE[0xFF] == 0 and g711.ULAW_DECODE[0x7F] == 0
    assert g711.ULAW_DECODE[0x00] == -32124 and g711.ULAW_DECODE[0x80] == 32124
    assert g711.ULAW_DECODE[0xF0] == 120 and g711.ULAW_DECODE[0x70] == -120
    assert g711.ALAW_DECODE[0xD5] == 8 and g711.ALAW_DECODE[0x55] == -8
    assert g711.ALAW_DECODE[0xAA] == 32256 and g711.ALAW_DECODE[0x2A] == -32256
    assert ulaw_encode(struct.pack("<3h", 0, 32767, -32768)) == b"\xff\x80\x00"
    assert alaw_encode(struct.pack("<3h", 0, 32767, -32768)) == b"\xd5\xaa\x2a"
    assert ulaw_decode(b"\xff\x80") == struct.pack("<2h", 0, 32124)
    assert alaw_decode(b"\xd5\x2a") == struct.pack("<2h", 8, -32256)


def test_round_trips() -> None:
    codes = bytes(range(256))
    assert alaw_encode(alaw_decode(codes)) == codes
    # μ-law has two zeros; 0x7F (-0) comes back as 0xFF (+0).
    assert ulaw_encode(ulaw_decode(codes)) == codes.replace(b"\x7f", b"\xff")
    # Encoding is monotonic in the sample value (a check independent of any reference).
    dec = [g711.ULAW_DECODE[c] for c in ulaw_encode(ALL_PCM)]
    assert dec == sorted(dec)
    dec = [g711.ALAW_DECODE[c] for c in alaw_encode(ALL_PCM)]
    assert dec == sorted(dec)
    with pytest.raises(ValueError):
        ulaw_encode(b"\x00")


def test_matches_audioop_where_available() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    codes = bytes(range(256))
    assert ulaw_decode(codes) == audioop.ulaw2lin(codes, 2)
    assert alaw_decode(codes) == audioop.alaw2lin(codes, 2)
    assert ulaw_encode(ALL_PCM) == audioop.lin2ulaw(ALL_PCM, 2)
    assert alaw_encode(ALL_PCM) == audioop.lin2alaw(ALL_PCM, 2)


def test_codec_facts() -> None:
    assert STATIC_PAYLOAD_TYPES[0] is PCMU and STATIC_PAYLOAD_TYPES[8] is PCMA
    assert codec_by_name("OPUS") is OPUS and OPUS.clock_rate == 48000 and OPUS.channels == 2
    assert codec_by_name("telephone-event") is TELEPHONE_EVENT
    assert codec_by_name("G729") is None


def test_opus_durations() -> None:
    assert opus_duration(bytes((0x78,))) == 960  # config 15: hybrid FB 20 ms, one frame
    assert opus_duration(bytes((0xFC,))) == 960  # config 31: CELT FB 20 ms
    assert opus_duration(bytes((0x08,))) == 960  # config 1: SILK NB 20 ms
    assert opus_duration(bytes((0x18,))) == 2880  # config 3: SILK NB 60 ms
    assert opus_duration(bytes((0x81,))) == 240  # config 16: CELT 2.5 ms, code 1: two frames
    assert opus_duration(bytes((0xFB, 0x03))) == 2880  # 20 ms x 3 frames (code 3)
    with pytest.raises(ValueError):
        opus_duration(b"")
    with pytest.raises(ValueError):
        opus_duration(bytes((0xFB,)))
    with pytest.raises(ValueError):
        opus_duration(bytes((0xFB, 0x00)))
    with pytest.raises(ValueError):
        opus_duration(bytes((0x1B, 0x03)))  # 3 x 60 ms > 120 ms


def test_frames() -> None:
    f = frame_from_rtp(PCMU, b"\xff" * 160, 1234)
    assert (f.codec, f.timestamp, f.clock_rate, f.duration, f.seconds) == (
        "PCMU",
        1234,
        8000,
        160,
        0.02,
    )
    assert frame_from_rtp(OPUS, bytes((0xFC, 1, 2)), 0).duration == 960
    ev = parse_telephone_event(bytes((11, 0x8A, 0x03, 0x20)))
    assert (ev.event, ev.digit, ev.end, ev.volume, ev.duration) == (11, "#", True, 10, 800)
    assert frame_from_rtp(TELEPHONE_EVENT, bytes((1, 0, 0, 160)), 0).duration == 160
    with pytest.raises(ValueError):
        parse_telephone_event(b"\x01")
    with pytest.raises(ValueError):
        frame_from_rtp(codec_by_name("opus") or OPUS, b"", 0)


def test_split_g711() -> None:
    parts = split_g711(bytes(400), ptime_ms=20)
    assert [len(p) for p in parts] == [160, 160, 80]
    with pytest.raises(ValueError):
        split_g711(b"x", ptime_ms=0)
