from __future__ import annotations

import pytest

from wcs.sdp import (
    Codec,
    H264ProfileLevel,
    SdpError,
    codecs_match,
    h264_answer_level,
    h264_packetization_mode,
    h264_profile_level,
    h264_profiles_compatible,
)


@pytest.mark.parametrize(
    "plid,profile,level",
    [
        ("42e01f", "constrained-baseline", 31),
        ("42c01e", "constrained-baseline", 30),
        ("42001f", "baseline", 31),
        ("42801f", "baseline", 31),
        ("4d401f", "main", 31),
        ("4de01f", "constrained-baseline", 31),
        ("58c01f", "constrained-baseline", 31),
        ("58801f", "baseline", 31),
        ("58001f", "extended", 31),
        ("640c1f", "constrained-high", 31),
        ("64001f", "high", 31),
        ("42f00b", "constrained-baseline", 9),  # level 1b: level_idc 11 + constraint_set3
        ("42000b", "baseline", 11),  # level 1.1
        ("640009", "high", 9),  # High profiles code 1b as level_idc 9
        ("42E01F", "constrained-baseline", 31),
    ],
)
def test_profile_level_id(plid: str, profile: str, level: int) -> None:
    pl = h264_profile_level({"profile-level-id": plid})
    assert pl.profile == profile
    assert pl.level == level


def test_absent_profile_level_id_is_baseline_level_1() -> None:
    pl = h264_profile_level("packetization-mode=1")
    assert pl == H264ProfileLevel(0x42, 0x00, 10)
    assert pl.profile == "baseline"


def test_level_1b_ordering_and_serialization() -> None:
    one_b = h264_profile_level("profile-level-id=42f00b")
    assert h264_profile_level("profile-level-id=42e00a").level_rank < one_b.level_rank
    assert one_b.level_rank < h264_profile_level("profile-level-id=42e00b").level_rank
    assert str(one_b) == "42f00b"
    assert str(h264_profile_level("profile-level-id=42e01f")) == "42e01f"


@pytest.mark.parametrize("bad", ["42e01", "42e01g", "", "0x42e01f"])
def test_bad_profile_level_id(bad: str) -> None:
    with pytest.raises(SdpError):
        h264_profile_level({"profile-level-id": bad})


def test_packetization_mode() -> None:
    assert h264_packetization_mode(None) == 0
    assert h264_packetization_mode("profile-level-id=42e01f") == 0
    assert h264_packetization_mode("packetization-mode=1") == 1
    with pytest.raises(SdpError):
        h264_packetization_mode("packetization-mode=7")


@pytest.mark.parametrize(
    "a,b,compatible",
    [
        ("42e01f", "42e01f", True),
        ("42e01f", "42e00a", True),  # level differs only
        ("42e01f", "42c01f", True),  # both Constrained Baseline
        ("42e01f", "4de01f", True),  # Main with constraint_set0 is Constrained Baseline
        ("42e01f", "58c01f", True),
        ("42e01f", "42001f", False),  # Constrained Baseline vs Baseline
        ("42001f", "58801f", True),  # both Baseline
        ("42e01f", "4d001f", False),
        ("64001f", "640c1f", False),  # High vs Constrained High
        ("64001f", "640032", True),
    ],
)
def test_profile_compatibility_table(a: str, b: str, compatible: bool) -> None:
    fa, fb = f"profile-level-id={a}", f"profile-level-id={b}"
    assert h264_profiles_compatible(fa, fb) is compatible
    assert h264_profiles_compatible(fb, fa) is compatible


def test_answer_level_without_and_with_asymmetry() -> None:
    offer = "profile-level-id=42e01f;packetization-mode=1"
    local = "profile-level-id=42e015;packetization-mode=1"
    assert h264_answer_level(offer, local) == 0x15  # the lower one
    assert h264_answer_level(local, offer) == 0x15
    offer_la = offer + ";level-asymmetry-allowed=1"
    local_la = "profile-level-id=42e032;level-asymmetry-allowed=1"
    assert h264_answer_level(offer_la, local_la) == 0x32  # each side keeps its own
    assert h264_answer_level(offer_la, local) == 0x15


def test_codecs_match_h264_needs_same_mode_and_profile() -> None:
    pm1 = Codec(97, "H264", 90000, None, "packetization-mode=1;profile-level-id=42e01f")
    pm1b = Codec(126, "h264", 90000, None, "profile-level-id=42e00d;packetization-mode=1")
    pm0 = Codec(96, "H264", 90000, None, "profile-level-id=42e01f")
    base = Codec(98, "H264", 90000, None, "packetization-mode=1;profile-level-id=42001f")
    assert codecs_match(pm1, pm1b)
    assert not codecs_match(pm1, pm0)
    assert not codecs_match(pm1, base)
    bad = Codec(99, "H264", 90000, None, "packetization-mode=1;profile-level-id=zz")
    assert not codecs_match(pm1, bad)


def test_codecs_match_audio_channels_and_clock() -> None:
    assert codecs_match(Codec(0, "PCMU", 8000), Codec(0, "PCMU", 8000, 1))
    assert not codecs_match(Codec(96, "opus", 48000, 2), Codec(96, "opus", 48000, 1))
    assert not codecs_match(
        Codec(101, "telephone-event", 8000), Codec(110, "telephone-event", 48000)
    )
