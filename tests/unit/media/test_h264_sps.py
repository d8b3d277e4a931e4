from __future__ import annotations

from fractions import Fraction

import pytest

from wcs.media.h264 import parse_sps, split_annexb, unescape_rbsp
from wcs.media.h264.sps import BitReader

from .helpers import SPS, BitWriter, escape


def test_trace_sps_with_emulation_prevention() -> None:
    assert b"\x00\x00\x03" in SPS
    s = parse_sps(SPS)
    assert (s.profile_idc, s.constraint_flags, s.level_idc) == (66, 0xC0, 13)
    assert (s.width, s.height) == (352, 288)
    assert s.profile_level_id == "42c00d"
    assert s.chroma_format_idc == 1 and s.frame_mbs_only


def test_unescape() -> None:
    assert unescape_rbsp(b"\x00\x00\x03\x00\x00\x03\x01") == b"\x00\x00\x00\x00\x01"
    assert unescape_rbsp(b"\x00\x00\x03\x03") == b"\x00\x00\x03"
    assert unescape_rbsp(b"\x00\x03\x00") == b"\x00\x03\x00"


def test_exp_golomb() -> None:
    w = BitWriter().ue(0).ue(1).ue(2).ue(254).se(0).se(1).se(-1).se(-7).u(3, 5)
    r = BitReader(w.rbsp())
    assert [r.ue(), r.ue(), r.ue(), r.ue()] == [0, 1, 2, 254]
    assert [r.se(), r.se(), r.se(), r.se()] == [0, 1, -1, -7]
    assert r.u(3) == 5
    with pytest.raises(ValueError):
        BitReader(b"\x00").ue()


def _sps(
    profile: int,
    *,
    chroma: int = 1,
    separate_planes: int = 0,
    scaling: bool = False,
    poc_type: int = 0,
    mbs_w: int = 22,
    map_units_h: int = 18,
    frame_mbs_only: int = 1,
    crop: tuple[int, int, int, int] | None = None,
) -> bytes:
    w = BitWriter().u(8, profile).u(8, 0).u(8, 40).ue(0)
    if profile in (100, 110, 122, 244):
        w.ue(chroma)
        if chroma == 3:
            w.u(1, separate_planes)
        w.ue(0).ue(0).u(1, 0)
        w.u(1, 1 if scaling else 0)
        if scaling:
            for i in range(12 if chroma == 3 else 8):
                if i % 2 == 0:
                    w.u(1, 1)
                    size = 16 if i < 6 else 64
                    # Some deltas, then a jump to 0 (nextScale == 0 ends the explicit list).
                    for j in range(size):
                        if j < size - 1:
                            w.se(3 if j % 3 else -2)
                        else:
                            w.se(-((8 + sum(3 if k % 3 else -2 for k in range(j))) % 256))
                else:
                    w.u(1, 0)
    w.ue(0).ue(poc_type)
    if poc_type == 0:
        w.ue(2)
    elif poc_type == 1:
        w.u(1, 0).se(-1).se(2).ue(3).se(1).se(-1).se(5)
    w.ue(4).u(1, 0).ue(mbs_w - 1).ue(map_units_h - 1).u(1, frame_mbs_only)
    if not frame_mbs_only:
        w.u(1, 1)
    w.u(1, 1)
    w.u(1, 1 if crop else 0)
    if crop:
        for c in crop:
            w.ue(c)
    w.u(1, 0)  # no VUI
    return b"\x67" + escape(w.rbsp())


@pytest.mark.parametrize(
    ("kwargs", "size", "crop_px"),
    [
        ({"profile": 66}, (352, 288), (0, 0, 0, 0)),
        ({"profile": 77, "poc_type": 1}, (352, 288), (0, 0, 0, 0)),
        (
            {"profile": 66, "poc_type": 2, "mbs_w": 120, "map_units_h": 68, "crop": (0, 0, 0, 4)},
            (1920, 1080),
            (0, 0, 0, 8),
        ),
        ({"profile": 100, "scaling": True, "crop": (1, 2, 0, 3)}, (346, 282), (2, 4, 0, 6)),
        ({"profile": 122, "chroma": 2, "crop": (1, 1, 1, 1)}, (348, 286), (2, 2, 1, 1)),
        (
            {"profile": 244, "chroma": 3, "scaling": True, "crop": (1, 1, 1, 1)},
            (350, 286),
            (1, 1, 1, 1),
        ),
        (
            {"profile": 244, "chroma": 3, "separate_planes": 1, "crop": (1, 0, 1, 0)},
            (351, 287),
            (1, 0, 1, 0),
        ),
        ({"profile": 100, "chroma": 0, "crop": (3, 0, 1, 0)}, (349, 287), (3, 0, 1, 0)),
        (
            {"profile": 100, "frame_mbs_only": 0, "map_units_h": 18, "crop": (0, 0, 0, 2)},
            (352, 568),
            (0, 0, 0, 8),
        ),
    ],
)
def test_constructed_sps(
    kwargs: dict[str, int], size: tuple[int, int], crop_px: tuple[int, int, int, int]
) -> None:
    s = parse_sps(_sps(**kwargs))  # type: ignore[arg-type]
    assert (s.width, s.height) == size
    assert s.crop == crop_px
    assert s.profile_idc == kwargs["profile"]
    assert s.frame_mbs_only == bool(kwargs.get("frame_mbs_only", 1))


def test_malformed_sps() -> None:
    with pytest.raises(ValueError):
        parse_sps(b"\x68\x00")  # a PPS
    with pytest.raises(ValueError):
        parse_sps(b"")
    with pytest.raises(ValueError):
        parse_sps(SPS[:6])  # truncated
    with pytest.raises(ValueError):
        parse_sps(_sps(66, crop=(200, 0, 0, 0)))  # cropped away


def _x264_sps(width: int, height: int, pix_fmt: str, params: str = "") -> bytes:
    import av
    import numpy as np

    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
    ctx.time_base = Fraction(1, 25)
    if params:
        ctx.options = {"x264-params": params}
    img = np.zeros((height, width, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format=pix_fmt)
    frame.pts = 0
    data = b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])
    return next(n for n in split_annexb(data) if n[0] & 0x1F == 7)


@pytest.mark.parametrize(
    ("width", "height", "pix_fmt", "params", "profile"),
    [
        (1918, 1080, "yuv420p", "", 100),
        (642, 362, "yuv422p", "", 122),
        (350, 202, "yuv444p", "", 244),
        (100, 66, "yuv420p10le", "", 110),
        (720, 572, "yuv420p", "interlaced=1", 100),
        (320, 240, "yuv420p", "cqm=jvt", 100),
    ],
)
def test_sps_from_libx264(width: int, height: int, pix_fmt: str, params: str, profile: int) -> None:
    s = parse_sps(_x264_sps(width, height, pix_fmt, params))
    assert (s.width, s.height) == (width, height)
    assert s.profile_idc == profile
    assert s.frame_mbs_only == ("interlaced" not in params)
