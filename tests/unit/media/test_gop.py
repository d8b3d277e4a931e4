"""GopCache: the video since the last keyframe, at packet and at frame level."""

from __future__ import annotations

from wcs.media.gop import GopCache, keyframe_packets, parameter_sets
from wcs.media.h264 import AccessUnit

SPS = bytes.fromhex("6742c00bda0507e8400000030040000005")
PPS = bytes.fromhex("68ce0fc8")
IDR = b"\x65\x88\x84"
P = b"\x41\x9a\x02"


def rtp(seq: int, ts: int, payload: bytes) -> bytes:
    return b"\x80\xe1" + seq.to_bytes(2, "big") + ts.to_bytes(4, "big") + bytes(4) + payload


def picture(cache: GopCache, seq: int, ts: int, key: bool) -> bool:
    fits = cache.add_packet(rtp(seq, ts, IDR if key else P), ts)
    au = AccessUnit(ts, [SPS, PPS, IDR] if key else [P], keyframe=key)
    return cache.add_frame(au, ts / 90) and fits


def test_nothing_is_cached_before_a_keyframe() -> None:
    cache = GopCache()
    picture(cache, 1, 0, False)
    assert cache.packets() == [] and cache.frames() == [] and cache.keyframe is None


def test_the_cache_holds_the_gop_and_restarts_on_a_keyframe() -> None:
    cache = GopCache()
    picture(cache, 1, 3000, True)
    picture(cache, 2, 6000, False)
    # The STAP-A with SPS+PPS, the IDR, then the P picture (still the current picture).
    assert [p[12] for p in cache.packets()] == [24, IDR[0], P[0]]
    assert [au.timestamp for au, _ in cache.frames()] == [3000, 6000]
    assert cache.keyframe is not None and cache.keyframe.timestamp == 3000
    picture(cache, 3, 9000, True)
    assert [p[12] for p in cache.packets()] == [24, IDR[0]]
    assert [au.timestamp for au, _ in cache.frames()] == [9000]


def test_past_the_bound_the_cache_is_dropped_until_the_next_keyframe() -> None:
    cache = GopCache(max_packets=1000, max_frames=3)
    assert picture(cache, 1, 0, True)
    assert picture(cache, 2, 3000, False) and picture(cache, 3, 6000, False)
    assert not picture(cache, 4, 9000, False)  # the fourth frame passes max_frames
    assert cache.frames() == [] and cache.packets() == [] and cache.keyframe is None
    assert picture(cache, 5, 12000, False)  # no keyframe: nothing to bound
    assert picture(cache, 6, 15000, True) and cache.keyframe is not None


def test_the_packet_bound() -> None:
    cache = GopCache(max_packets=2)
    picture(cache, 1, 0, True)  # STAP-A + IDR: two packets
    assert cache.add_packet(rtp(2, 3000, P), 3000)  # current picture: not counted yet
    assert not cache.add_packet(rtp(3, 6000, P), 6000)  # the P picture ends: three
    assert cache.packets() == []


def test_clear() -> None:
    cache = GopCache()
    picture(cache, 1, 0, True)
    cache.clear()
    assert cache.packets() == [] and cache.frames() == []


def test_parameter_sets_go_in_front_only_when_the_packets_lack_them() -> None:
    au = AccessUnit(0, [SPS, PPS, IDR], keyframe=True)
    assert parameter_sets(au) == (SPS, PPS)
    packets = [rtp(10, 0, IDR)]
    first, idr = keyframe_packets(au, packets)
    assert first[12] == 24 and SPS in first and PPS in first
    assert int.from_bytes(first[2:4], "big") == 9 and first[1] & 0x80 == 0  # seq - 1, no marker
    assert idr == packets[0]
    inband = [rtp(10, 0, SPS), rtp(11, 0, PPS), rtp(12, 0, IDR)]
    assert keyframe_packets(au, inband) == inband
    assert keyframe_packets(AccessUnit(0, [IDR], keyframe=True), packets) == packets
    assert keyframe_packets(au, []) == []
