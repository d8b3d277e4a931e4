from __future__ import annotations

from fractions import Fraction

import av
import pytest

from wcs.rtmp.errors import RtmpError
from wcs.rtmp.flv import split_annexb
from wcs.rtmp.sps import parse_sps


def x264_sps(width: int, height: int, profile: str) -> bytes:
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, 25)
    ctx.options = {"profile": profile}
    frame = av.VideoFrame(width, height, "yuv420p")
    frame.pts = 0
    packets = ctx.encode(frame) + ctx.encode(None)
    return next(n for n in split_annexb(bytes(packets[0])) if n[0] & 0x1F == 7)


@pytest.mark.parametrize(("w", "h", "profile", "idc"), [
    (640, 360, "high", 100),  # 360 = 23 macroblocks minus cropping
    (352, 288, "baseline", 66),
    (1282, 722, "main", 77),
])
def test_size_from_x264_sps(w: int, h: int, profile: str, idc: int) -> None:
    info = parse_sps(x264_sps(w, h, profile))
    assert (info.width, info.height, info.profile_idc) == (w, h, idc)


def test_size_from_the_trace_sps() -> None:
    # The SIP callee's SPS in conformance/traces/02-call-av.pcap (baresip, 352x288).
    from tests.integration.test_rtmp_nginx import load_trace

    info = parse_sps(load_trace().sps)
    assert (info.width, info.height, info.profile_idc) == (352, 288, 66)


def test_bad_sps() -> None:
    with pytest.raises(RtmpError):
        parse_sps(b"\x68\x00")
    with pytest.raises(RtmpError):
        parse_sps(b"\x67\x42")
