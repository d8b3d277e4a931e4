from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wcs.media.h264 import (
    AccessUnit,
    H264Depacketizer,
    H264Packetizer,
    format_sprop_parameter_sets,
)

from .helpers import PPS, SPS, idr, pslice

AUD = b"\x09\xf0"
SEI = b"\x06\x05\x01\x00\x80"


class Feeder:
    """Packetizes access units and feeds them with consecutive sequence numbers."""

    def __init__(self, depack: H264Depacketizer, pack: H264Packetizer, seq: int = 100) -> None:
        self.depack = depack
        self.pack = pack
        self.seq = seq

    def packets(self, nals: list[bytes], ts: int) -> list[tuple[bytes, int, int, bool]]:
        payloads = self.pack.packetize(nals)
        out = []
        for i, p in enumerate(payloads):
            out.append((p, self.seq, ts, i == len(payloads) - 1))
            self.seq = (self.seq + 1) & 0xFFFF
        return out

    def feed(self, packets: list[tuple[bytes, int, int, bool]]) -> list[AccessUnit]:
        aus: list[AccessUnit] = []
        for p in packets:
            aus += self.depack.push(*p)
        return aus

    def send(self, nals: list[bytes], ts: int) -> list[AccessUnit]:
        return self.feed(self.packets(nals, ts))


def gop(n_p: int = 3, size: int = 3000) -> list[list[bytes]]:
    return [[SPS, PPS, idr(size), idr(size, first_mb0=False)]] + [
        [pslice(size // 3)] for _ in range(n_p)
    ]


@pytest.mark.parametrize("mode", [0, 1])
def test_round_trip_single_and_fragmented(mode: int) -> None:
    pack = H264Packetizer(mtu=4000 if mode == 0 else 500, mode=mode)
    f = Feeder(H264Depacketizer(), pack)
    aus: list[AccessUnit] = []
    for i, nals in enumerate(gop()):
        aus += f.send(nals, 3000 * i)
    assert [a.nals for a in aus] == gop()
    assert [a.keyframe for a in aus] == [True, False, False, False]
    assert not any(a.damaged for a in aus)
    assert [a.timestamp for a in aus] == [0, 3000, 6000, 9000]
    assert f.depack.needs_keyframe is False
    assert f.depack.sps_info is not None and f.depack.sps_info.width == 352
    if mode == 1:
        assert f.depack.stats.packets > 8  # FU-A really was used


def test_packetizer_shapes() -> None:
    pack = H264Packetizer(mtu=100)
    out = pack.packetize([SPS, PPS, idr(450)])
    stap, *fus = out
    assert stap[0] & 0x1F == 24 and stap[0] & 0x60 == 0x60  # NRI = max(SPS, PPS)
    assert stap[1:3] == len(SPS).to_bytes(2, "big") and stap[3 : 3 + len(SPS)] == SPS
    assert all(len(p) <= 100 for p in out)
    assert [p[0] for p in fus] == [0x7C] * len(fus)  # NRI 3, type 28
    assert fus[0][1] == 0x85 and fus[-1][1] == 0x45
    assert all(p[1] == 0x05 for p in fus[1:-1])
    assert bytes((0x65,)) + b"".join(p[2:] for p in fus) == idr(450)
    # Mode 0 never aggregates or fragments.
    assert H264Packetizer(mtu=100, mode=0).packetize([SPS, PPS]) == [SPS, PPS]
    with pytest.raises(ValueError):
        H264Packetizer(mtu=100, mode=0).packetize([idr(101)])
    with pytest.raises(ValueError):
        H264Packetizer(mode=2)
    # stap_a=False: single NAL units only.
    assert H264Packetizer(mtu=100, stap_a=False).packetize([SPS, PPS])[0] == SPS


def test_access_unit_forms() -> None:
    au = AccessUnit(0, [SPS, PPS, b"\x65\x88"])
    assert au.annexb() == b"\0\0\0\1" + SPS + b"\0\0\0\1" + PPS + b"\0\0\0\1\x65\x88"
    assert au.avcc()[:4] == len(SPS).to_bytes(4, "big")
    assert au.avcc()[-6:] == b"\0\0\0\2\x65\x88"
    assert au.has_idr
    assert AccessUnit(0).annexb() == b""


def test_marker_missing_closes_on_timestamp_change_and_flush() -> None:
    d = H264Depacketizer()
    assert d.push(SPS, 1, 0, False) == []
    assert d.push(PPS, 2, 0, False) == []
    assert d.push(idr(50), 3, 0, False) == []
    aus = d.push(pslice(50), 4, 3000, False)
    assert len(aus) == 1 and aus[0].keyframe and aus[0].timestamp == 0
    # Flushed without its marker: its tail may be lost, so it is damaged (dropped by default).
    assert d.flush() == [] and d.stats.dropped == 1
    assert d.flush() == []
    d = H264Depacketizer(drop_damaged=False)
    d.push(SPS, 1, 0, False)
    d.push(PPS, 2, 0, False)
    d.push(idr(50), 3, 0, False)
    aus = d.flush()
    assert len(aus) == 1 and aus[0].damaged and not aus[0].keyframe


def test_loss_in_fu_waits_for_keyframe() -> None:
    f = Feeder(H264Depacketizer(), H264Packetizer(mtu=300))
    aus = f.send(gop()[0], 0)
    assert aus[0].keyframe and not f.depack.needs_keyframe
    pkts = f.packets([pslice(1000)], 3000)
    assert len(pkts) >= 3
    del pkts[1]  # a middle fragment
    assert f.feed(pkts) == []
    assert f.depack.needs_keyframe
    assert f.depack.stats.lost == 1 and f.depack.stats.dropped == 1
    # Intact P-frames still reference the lost one: dropped until the next IDR.
    assert f.send([pslice(200)], 6000) == []
    assert f.depack.stats.dropped == 2
    aus = f.send([idr(1000)], 9000)  # no in-band SPS/PPS: the remembered ones are prepended
    assert len(aus) == 1 and aus[0].keyframe and not aus[0].damaged
    assert aus[0].nals == [SPS, PPS, idr(1000)]
    assert not f.depack.needs_keyframe
    assert f.send([pslice(200)], 12000)[0].nals == [pslice(200)]


def test_damaged_units_flagged_when_not_dropping() -> None:
    f = Feeder(H264Depacketizer(drop_damaged=False), H264Packetizer(mtu=300))
    pkts = f.packets(gop()[0], 0)
    del pkts[3]  # inside the IDR
    aus = f.feed(pkts)
    assert len(aus) == 1 and aus[0].damaged and not aus[0].keyframe
    aus = f.send([pslice(100)], 3000)
    assert len(aus) == 1 and aus[0].damaged and not aus[0].keyframe
    aus = f.send(gop()[0], 6000)
    assert aus[0].keyframe and not aus[0].damaged
    assert f.depack.stats.damaged == 2 and f.depack.stats.dropped == 0


def test_keyframe_needs_parameter_sets() -> None:
    d = H264Depacketizer()
    assert d.needs_keyframe  # nothing seen yet
    assert d.push(idr(50), 1, 0, True) == []  # IDR, but no SPS/PPS known: not decodable
    assert d.needs_keyframe and d.stats.dropped == 1
    d = H264Depacketizer(format_sprop_parameter_sets([SPS, PPS]))
    assert d.parameter_sets == [SPS, PPS]
    aus = d.push(AUD, 1, 0, False) + d.push(idr(50), 2, 0, True)
    assert aus[0].keyframe and aus[0].nals == [AUD, SPS, PPS, idr(50)]  # AUD stays first


def test_missing_pps_inserted_after_sps_and_latest_kept() -> None:
    d = H264Depacketizer(format_sprop_parameter_sets([SPS, PPS]))
    new_pps = b"\x68\xee\x3c\x80"
    d.push(new_pps, 1, 0, False)  # a parameter-set-only unit with its own timestamp
    aus = d.push(SPS, 2, 3000, False) + d.push(idr(50), 3, 3000, True)
    assert aus[0].nals == [SPS, new_pps, idr(50)]
    assert d.pps == new_pps


def test_gap_before_idr_trusted_only_from_macroblock_zero() -> None:
    d = H264Depacketizer(format_sprop_parameter_sets([SPS, PPS]))
    assert d.push(idr(50), 1, 0, True)[0].keyframe
    # Packet 2 lost; packet 3 starts a new picture at macroblock 0: a usable keyframe.
    aus = d.push(idr(50), 3, 3000, False) + d.push(idr(50, first_mb0=False), 4, 3000, True)
    assert aus and aus[0].keyframe
    # Packet 5 lost; packet 6 is the second slice of its picture: the first one is gone.
    assert d.push(idr(50, first_mb0=False), 6, 6000, True) == []
    assert d.needs_keyframe


def test_open_unit_damaged_when_its_tail_is_lost() -> None:
    d = H264Depacketizer(format_sprop_parameter_sets([SPS, PPS]), drop_damaged=False)
    d.push(idr(50), 1, 0, False)  # marker packet 2 lost
    aus = d.push(idr(50), 3, 3000, True)
    assert [(a.timestamp, a.damaged) for a in aus] == [(0, True), (3000, False)]
    assert aus[1].keyframe


def test_duplicates_late_and_wrap() -> None:
    d = H264Depacketizer(format_sprop_parameter_sets([SPS, PPS]))
    assert d.push(idr(50), 65535, 0, True)[0].keyframe
    assert d.push(pslice(50), 0, 3000, True)[0].nals == [pslice(50)]  # wrap: no loss
    assert d.push(pslice(50), 0, 3000, True) == []  # duplicate
    assert d.push(pslice(50), 65534, 3000, True) == []  # late
    assert d.stats.late == 2 and d.stats.lost == 0
    assert not d.needs_keyframe


def test_restart_needs_two_packets() -> None:
    d = H264Depacketizer(format_sprop_parameter_sets([SPS, PPS]))
    d.push(idr(50), 10, 0, True)
    assert d.push(pslice(50), 30000, 3000, True) == []  # stray
    assert not d.needs_keyframe and d.stats.late == 1
    assert d.push(pslice(50), 11, 3000, True)  # the stream carries on
    d.push(pslice(50), 40000, 6000, True)
    aus = d.push(idr(50), 40001, 9000, True)  # confirmed: a restart, resync on this IDR
    assert aus and aus[0].keyframe


def test_fu_errors() -> None:
    d = H264Depacketizer(format_sprop_parameter_sets([SPS, PPS]), drop_damaged=False)
    # A middle fragment without its start (but no sequence gap: a broken sender).
    aus = d.push(b"\x7c\x05abc", 1, 0, False) + d.push(b"\x7c\x45abc", 2, 0, True)
    assert aus == []  # no slice arrived at all
    # A start without an end, then a new timestamp.
    d.push(b"\x7c\x85\x88abc", 3, 3000, False)
    aus = d.push(idr(20), 4, 6000, True)
    assert [(a.timestamp, a.damaged) for a in aus] == [(6000, False)]
    assert d.stats.damaged == 0  # the broken unit had no complete slice to hand out
    # A start, then a single NAL unit packet before the end.
    d.push(b"\x7c\x81\x9aabc", 5, 9000, False)
    aus = d.push(pslice(20), 6, 9000, True)
    assert len(aus) == 1 and aus[0].damaged
    assert d.push(b"\x7c", 7, 12000, True) == []  # too short
    assert d.stats.malformed == 1


def test_stap_a_truncated_and_unsupported_types() -> None:
    d = H264Depacketizer(format_sprop_parameter_sets([SPS, PPS]), drop_damaged=False)
    stap = b"\x78" + len(idr(20)).to_bytes(2, "big") + idr(20) + b"\x00\x30\x41"
    aus = d.push(stap, 1, 0, True)
    assert len(aus) == 1 and aus[0].damaged and aus[0].nals == [idr(20)]
    assert d.stats.malformed == 1
    assert d.push(b"\x7d\x85abc", 2, 3000, True) == []  # FU-B
    assert d.push(b"", 3, 6000, True) == []
    assert d.push(b"\x1e\x00", 4, 9000, True) == []  # type 30: ignored
    assert d.stats.malformed == 3
    assert d.push(idr(20), 5, 12000, True)[0].keyframe


def test_bad_sprop_entries_skipped() -> None:
    good = format_sprop_parameter_sets([SPS, PPS])
    d = H264Depacketizer("!!notbase64," + good.split(",")[1] + "," + good.split(",")[0])
    assert d.stats.malformed == 1 and d.parameter_sets == [SPS, PPS]


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    mtu=st.integers(60, 1500),
    loss=st.floats(0, 0.2),
    swaps=st.floats(0, 0.1),
)
def test_lossy_stream_never_hands_out_a_corrupt_unit(
    seed: int, mtu: int, loss: float, swaps: float
) -> None:
    """Drop and swap packets at random: whatever the default depacketizer hands out is
    exactly an access unit that was sent, in order, and keyframes are real IDRs."""
    rnd = random.Random(seed)
    sent: list[list[bytes]] = []
    for _ in range(4):
        sent.append([SPS, PPS, idr(rnd.randint(10, 2000)), idr(rnd.randint(10, 900), False)])
        for _ in range(rnd.randint(0, 5)):
            sent.append(
                [pslice(rnd.randint(5, 1500)), pslice(rnd.randint(5, 700), False)][
                    : rnd.randint(1, 2)
                ]
            )
    f = Feeder(H264Depacketizer(), H264Packetizer(mtu=mtu), seq=rnd.randint(0, 0xFFFF))
    packets = []
    for i, nals in enumerate(sent):
        packets += f.packets(nals, i * 3000)
    packets = [p for p in packets if rnd.random() >= loss]
    for i in range(len(packets) - 1):
        if rnd.random() < swaps:
            packets[i], packets[i + 1] = packets[i + 1], packets[i]
    out = f.feed(packets) + f.depack.flush()
    by_ts = {i * 3000: nals for i, nals in enumerate(sent)}
    assert [a.timestamp for a in out] == sorted({a.timestamp for a in out})
    for au in out:
        assert au.nals == by_ts[au.timestamp]
        assert not au.damaged
        assert au.keyframe == au.has_idr
    # The reference chain: a P-frame is handed out only right after the unit it follows.
    index = [a.timestamp // 3000 for a in out]
    for k, au in enumerate(out):
        if not au.keyframe:
            assert k > 0 and index[k - 1] == index[k] - 1


nal_strategy = st.builds(
    lambda t, body: bytes((0x60 | t,)) + body,
    st.sampled_from([1, 5, 6, 9]),
    st.binary(min_size=0, max_size=3000),
)


@settings(max_examples=60, deadline=None)
@given(
    units=st.lists(st.lists(nal_strategy, min_size=1, max_size=5), min_size=1, max_size=5),
    mtu=st.integers(min_value=16, max_value=1500),
)
def test_round_trip_property(units: list[list[bytes]], mtu: int) -> None:
    # Make every unit decodable-looking so none is filtered: a first slice at macroblock 0.
    units = [[SPS, PPS, b"\x65\x80", *u] for u in units]
    f = Feeder(H264Depacketizer(), H264Packetizer(mtu=mtu), seq=65530)
    out: list[AccessUnit] = []
    for i, nals in enumerate(units):
        out += f.send(nals, i * 3000)
    assert [a.nals for a in out] == [[n for n in u if n] for u in units]
    assert all(a.keyframe for a in out)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.binary(max_size=40), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1), st.booleans()
        ),
        max_size=30,
    )
)
def test_garbage_never_raises(packets: list[tuple[bytes, int, int, bool]]) -> None:
    d = H264Depacketizer(drop_damaged=False)
    for p in packets:
        for au in d.push(*p):
            assert not (au.keyframe and au.damaged)
    d.flush()
