from __future__ import annotations

import pytest

from wcs.media.h264 import (
    AccessUnit,
    avc_decoder_configuration_record,
    format_sprop_parameter_sets,
    parse_sprop_parameter_sets,
    split_annexb,
    split_avcc,
)

from .helpers import PPS
from .helpers import SPS as TRACE_SPS

# The trace's SPS ends in a zero byte; in Annex-B that is indistinguishable from
# trailing_zero_8bits before the next start code, so splitting drops it (as decoders do).
SPS = TRACE_SPS.rstrip(b"\0")


def test_annexb_drops_trailing_zero_bytes() -> None:
    assert split_annexb(b"\0\0\1" + TRACE_SPS + b"\0\0\1" + PPS) == [SPS, PPS]


def test_split_annexb_mixed_start_codes() -> None:
    data = b"\0\0\0\1" + SPS + b"\0\0\1" + PPS + b"\0\0\0\1\x65\x88\x00\x01"
    assert split_annexb(data) == [SPS, PPS, b"\x65\x88\x00\x01"]
    assert split_annexb(b"") == []
    assert split_annexb(b"\x65\x88") == [b"\x65\x88"]


def test_avcc_round_trip_and_truncation() -> None:
    au = AccessUnit(0, [SPS, PPS, b"\x65\x88"])
    assert split_avcc(au.avcc()) == au.nals
    assert split_annexb(au.annexb()) == au.nals
    with pytest.raises(ValueError):
        split_avcc(au.avcc()[:-1])
    with pytest.raises(ValueError):
        split_avcc(b"\0\0")


def test_sprop() -> None:
    value = format_sprop_parameter_sets([SPS, PPS])
    assert parse_sprop_parameter_sets(value) == [SPS, PPS]
    # Unpadded base64 and blanks as some senders write them.
    unpadded = ", ".join(v.rstrip("=") for v in value.split(","))
    assert parse_sprop_parameter_sets(unpadded) == [SPS, PPS]
    with pytest.raises(ValueError):
        parse_sprop_parameter_sets("Z0LA!!,aM4yyA==")


def test_avcc_record() -> None:
    rec = avc_decoder_configuration_record(SPS, PPS)
    assert rec[:6] == bytes((1, 0x42, 0xC0, 0x0D, 0xFF, 0xE1))
    assert rec[6:8] == len(SPS).to_bytes(2, "big") and rec[8 : 8 + len(SPS)] == SPS
    assert rec[8 + len(SPS) :] == b"\x01" + len(PPS).to_bytes(2, "big") + PPS
    with pytest.raises(ValueError):
        avc_decoder_configuration_record(PPS, SPS)


def test_avcc_record_high_422_reads_chroma_from_the_sps() -> None:
    # x264 High 4:2:2 (profile_idc 122), 8-bit: chroma_format_idc 2 must reach the record.
    sps = bytes.fromhex("677a000abcd9442684000003000400000300c83c489658")
    pps = bytes.fromhex("68ebe3cb22c0")
    rec = avc_decoder_configuration_record(sps, [pps, pps])
    assert rec[1] == 122
    assert rec[-4:] == bytes((0xFC | 2, 0xF8, 0xF8, 0))
    assert rec[8 + len(sps)] == 2  # both PPS listed
