from __future__ import annotations

import pytest

from wcs.rtmp import flv
from wcs.rtmp.errors import RtmpError

SPS = bytes.fromhex("6742e01fda0b0b4d4040418000")  # Baseline 42 e0 1f
PPS = bytes.fromhex("68ce3c80")


def test_sequence_header_carries_the_decoder_config_record() -> None:
    rec = flv.video_sequence_header(SPS, PPS)[5:]
    assert rec[:6] == bytes([1, 0x42, 0xE0, 0x1F, 0xFF, 0xE1])
    assert rec[6:8] == len(SPS).to_bytes(2, "big") and rec[8 : 8 + len(SPS)] == SPS
    rest = rec[8 + len(SPS) :]
    assert rest == b"\x01" + len(PPS).to_bytes(2, "big") + PPS  # no High-profile tail


def test_sequence_header_takes_several_pps() -> None:
    pps2 = bytes.fromhex("68ee3c80")
    rec = flv.video_sequence_header(SPS, [PPS, pps2])[5:]
    rest = rec[8 + len(SPS) :]
    assert rest == b"\x02" + b"".join(len(p).to_bytes(2, "big") + p for p in (PPS, pps2))


def test_unreadable_high_profile_sps_gets_420_8bit() -> None:
    high = bytes([0x67, 100, 0, 0x1F, 0xAA])  # truncated: chroma fields cannot be read
    assert flv.video_sequence_header(high, PPS)[-4:] == bytes([0xFD, 0xF8, 0xF8, 0])


def test_sequence_header_rejects_non_sps_as_rtmp_error() -> None:
    with pytest.raises(RtmpError):
        flv.video_sequence_header(PPS, PPS)
    with pytest.raises(RtmpError):
        flv.video_sequence_header(SPS, SPS)
    with pytest.raises(RtmpError):
        flv.video_sequence_header(SPS, [])


def test_video_tags() -> None:
    seq = flv.video_sequence_header(SPS, PPS)
    assert seq[:5] == b"\x17\x00\x00\x00\x00"
    key = flv.video_frame(flv.avcc([b"\x65abc", b"\x65de"]), keyframe=True)
    assert key == b"\x17\x01\x00\x00\x00" + b"\x00\x00\x00\x04\x65abc\x00\x00\x00\x03\x65de"
    inter = flv.video_frame(b"", keyframe=False)
    assert inter[:2] == b"\x27\x01"
    assert flv.video_end_of_sequence() == b"\x17\x02\x00\x00\x00"


def test_split_annexb() -> None:
    data = b"\x00\x00\x00\x01\x67ab\x00\x00\x01\x68c\x00\x00\x00\x01\x65xyz"
    assert flv.split_annexb(data) == [b"\x67ab", b"\x68c", b"\x65xyz"]


@pytest.mark.parametrize(
    ("rate", "channels", "asc"),
    [
        (44100, 2, b"\x12\x10"),
        (48000, 1, b"\x11\x88"),
        (8000, 1, b"\x15\x88"),
        (16000, 1, b"\x14\x08"),
    ],
)
def test_audio_specific_config(rate: int, channels: int, asc: bytes) -> None:
    assert flv.aac_audio_specific_config(rate, channels) == asc
    assert flv.parse_audio_specific_config(asc) == (2, rate, channels)


def test_audio_tags() -> None:
    assert flv.audio_aac_sequence_header(b"\x11\x88") == b"\xaf\x00\x11\x88"
    assert flv.audio_aac_frame(b"raw") == b"\xaf\x01raw"
    assert flv.audio_g711(b"\xd5", alaw=True) == b"\x72\xd5"  # format 7
    assert flv.audio_g711(b"\xff", alaw=False) == b"\x82\xff"  # format 8
    with pytest.raises(RtmpError):
        flv.aac_audio_specific_config(11000, 1)


def test_metadata() -> None:
    meta = flv.metadata(width=352, height=288, framerate=15, audio_sample_rate=48000)
    assert meta["videocodecid"] == 7.0 and meta["audiocodecid"] == 10.0
    assert (meta["width"], meta["height"], meta["framerate"]) == (352.0, 288.0, 15.0)
    assert meta["audiosamplerate"] == 48000.0 and meta["stereo"] is False
    audio_only = flv.metadata(video=False, audio_format=flv.AUDIO_FORMAT_G711U)
    assert "videocodecid" not in audio_only and audio_only["audiocodecid"] == 8.0


def test_monotonic_starts_at_zero_and_follows_the_source() -> None:
    mt = flv.MonotonicTimestamps()
    assert [mt.map("v", t) for t in (5000, 5066, 5133)] == [0, 66, 133]
    assert mt.map("a", 5020) == 20  # same source clock: audio stays aligned


def test_monotonic_never_goes_backwards_on_reorder() -> None:
    mt = flv.MonotonicTimestamps()
    assert [mt.map("v", t) for t in (100, 200, 180, 300)] == [0, 100, 100, 200]


def test_monotonic_source_reset_and_gap() -> None:
    mt = flv.MonotonicTimestamps(max_gap_ms=1000)
    mt.map("v", 90_000)
    mt.map("v", 90_500)
    assert mt.map("v", 10) == 501  # the source restarted at 10: continue just after 500
    assert mt.map("v", 76) == 567
    assert mt.map("v", 60_000) == 568  # a one-minute jump forward is a reset too
    assert mt.resets == 2


def test_interleaver_orders_within_window() -> None:
    il = flv.Interleaver(window_ms=100)
    out = []
    for track, ts in [
        ("v", 0),
        ("a", 20),
        ("v", 66),
        ("a", 10),
        ("a", 40),
        ("v", 133),
        ("a", 150),
        ("v", 200),
        ("a", 300),
    ]:
        out += il.push(track, ts, f"{track}{ts}")
    out += il.flush()
    stamps = [ts for ts, _, _ in out]
    assert stamps == sorted(stamps)
    assert [item for _, _, item in out][:4] == ["v0", "a10", "a20", "a40"]
    assert il.late == 0


def test_interleaver_clamps_items_later_than_the_window() -> None:
    il = flv.Interleaver(window_ms=50)
    il.push("v", 0, "v0")
    released = il.push("v", 500, "v500")
    assert [ts for ts, _, _ in released] == [0]
    il.push("a", 1000, "a1000")  # releases v500
    assert il.push("a", 100, "a100") == [(500, "a", "a100")]  # sent at once, clamped
    assert il.late == 1
    assert il.flush() == [(1000, "a", "a1000")]


def test_monotonic_keeps_a_gap_that_other_tracks_confirm() -> None:
    mt = flv.MonotonicTimestamps(max_gap_ms=1000)
    mt.map("a", 0)
    mt.map("v", 0)
    for t in range(66, 5000, 66):
        mt.map("v", t)
    # Audio was silent (DTX) for 5 s while video went on: a gap, not a reset.
    assert mt.map("a", 4990) == 4990
    assert mt.resets == 0
