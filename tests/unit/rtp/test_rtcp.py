from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wcs.rtp.rtcp import (
    App,
    Bye,
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    RtcpError,
    Sdes,
    SdesChunk,
    SenderReport,
    parse_compound,
    serialize_compound,
)

from .trace import rtcp_packets


def test_trace_rtcp_identified_and_byte_exact() -> None:
    packets = rtcp_packets()
    assert len(packets) == 8
    apps, byes = [], []
    for pkt in packets:
        parsed = parse_compound(pkt.payload)
        assert serialize_compound(parsed) == pkt.payload
        if isinstance(parsed[0], App):
            apps.append(parsed[0])
        else:
            byes.append(parsed)
    # libre's keep-alive: APP "PING" with data "PONG", one per RTP stream.
    assert len(apps) == 4
    assert all(a.name == b"PING" and a.data == b"PONG" and a.subtype == 0 for a in apps)
    # At hang-up: BYE (reason "Adjo") then SDES CNAME, for each of the 4 streams.
    assert len(byes) == 4
    cnames = {}
    for bye, sdes in byes:
        assert isinstance(bye, Bye) and isinstance(sdes, Sdes)
        assert bye.reason == b"Adjo" and len(bye.ssrcs) == 1
        cnames[bye.ssrcs[0]] = sdes.cname(bye.ssrcs[0])
    assert cnames == {
        636407640: "sip:1002@sip.test",
        696528693: "sip:1002@sip.test",
        2028701791: "sip:1001@sip.test",
        2161881639: "sip:1001@sip.test",
    }


def test_sender_report_bytes() -> None:
    block = ReportBlock(0x01020304, 25, -3, 0x00010005, 29, 0x7E808000, 32768)
    sr = SenderReport(0xAABBCCDD, 0x83AA7E80_80000000, 160000, 12, 1920, [block])
    data = sr.serialize()
    assert data[:4] == bytes([0x81, 200, 0, 12])
    assert data[4:8] == b"\xaa\xbb\xcc\xdd"
    assert data[32:36] == bytes([25, 0xFF, 0xFF, 0xFD])  # fraction, -3 in 24 bits
    (parsed,) = parse_compound(data)
    assert parsed == sr
    assert isinstance(parsed, SenderReport) and parsed.reports[0].packets_lost == -3


def test_receiver_report_compound_with_sdes_and_extension() -> None:
    rr = ReceiverReport(1, [ReportBlock(2, packets_lost=0x7FFFFF), ReportBlock(3)], b"\x00" * 4)
    sdes = Sdes([SdesChunk(1, [(1, b"abc"), (2, b"name")]), SdesChunk(9, [])])
    data = serialize_compound([rr, sdes])
    parsed = parse_compound(data)
    assert parsed == [rr, sdes]
    assert len(data) % 4 == 0
    assert Sdes.cname_for(5, "x@y").chunks[0].cname == "x@y"
    # Lost counts beyond 24 bits are clamped, not wrapped.
    big = ReceiverReport(1, [ReportBlock(2, packets_lost=10**9)]).serialize()
    (back,) = parse_compound(big)
    assert isinstance(back, ReceiverReport) and back.reports[0].packets_lost == 0x7FFFFF


def test_bye_without_reason() -> None:
    data = Bye([1, 2]).serialize()
    assert data == bytes([0x82, 203, 0, 2]) + struct.pack("!II", 1, 2)
    assert parse_compound(data) == [Bye([1, 2])]


def test_generic_nack_rfc4585_example() -> None:
    data = bytes([0x81, 205, 0, 3]) + struct.pack("!IIHH", 1, 2, 0x1234, 0x0005)
    (nack,) = parse_compound(data)
    assert isinstance(nack, Nack)
    assert nack.lost() == [0x1234, 0x1235, 0x1237]
    assert nack.serialize() == data


def test_nack_from_lost_and_wrap() -> None:
    lost = [100, 101, 105, 116, 117, 200, 65535, 0, 3]
    nack = Nack.from_lost(1, 2, lost)
    assert nack.pairs == [(100, 0b1000000000010001), (117, 0), (200, 0), (65535, 0b1001)]
    assert nack.lost() == lost
    (back,) = parse_compound(nack.serialize())
    assert back == nack


def test_pli_fir_remb_bytes() -> None:
    pli = Pli(0x11, 0x22).serialize()
    assert pli == bytes([0x81, 206, 0, 2]) + struct.pack("!II", 0x11, 0x22)
    fir = Fir(0x11, [(0x22, 7)])
    data = fir.serialize()
    assert data == bytes([0x84, 206, 0, 4]) + struct.pack("!IIIB3x", 0x11, 0, 0x22, 7)
    remb = Remb(0x11, 1_000_000, [0x22, 0x33])
    rdata = remb.serialize()
    # 1 000 000 = 250 000 << 2: exponent 2, 18-bit mantissa 250000 (0x3D090).
    assert rdata[12:20] == b"REMB" + bytes([2, (2 << 2) | 0x03, 0xD0, 0x90])
    assert parse_compound(pli + data + rdata) == [Pli(0x11, 0x22), fir, remb]
    huge = Remb(1, 2**40).serialize()
    (back,) = parse_compound(huge)
    assert isinstance(back, Remb) and back.bitrate == 2**40


def test_unknown_types_are_skipped() -> None:
    xr = bytes([0x80, 207, 0, 1]) + b"\x00" * 4
    twcc = bytes([0x8F, 205, 0, 2]) + b"\x00" * 8  # transport-cc (RTPFB fmt 15)
    afb = bytes([0x8F, 206, 0, 3]) + b"\x00" * 8 + b"ABCD"  # PSFB AFB, not REMB
    sli = bytes([0x82, 206, 0, 2]) + b"\x00" * 8
    bye = Bye([7]).serialize()
    assert parse_compound(xr + twcc + afb + sli + bye) == [Bye([7])]


def test_padding_on_last_packet() -> None:
    body = struct.pack("!I", 7) + b"\x00\x00\x00\x04"
    data = bytes([0xA0, 201, 0, 2]) + body  # RR with 4 bytes of padding
    assert parse_compound(data) == [ReceiverReport(7)]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80\xc8\x00",
        b"\x40\xc9\x00\x01\x00\x00\x00\x00",  # version 1
        b"\x80\xc9\x00\x05\x00\x00\x00\x00",  # length past the end
        b"\x81\xc9\x00\x01\x00\x00\x00\x00",  # one report block missing
        b"\x80\xc8\x00\x01\x00\x00\x00\x00",  # SR too short
        b"\x81\xca\x00\x01\x00\x00\x00\x01",  # SDES chunk not terminated
        b"\x81\xca\x00\x02\x00\x00\x00\x01\x01\x09\x00\x00",  # SDES item past end
        b"\x82\xcb\x00\x01\x00\x00\x00\x01",  # BYE count 2, one SSRC
        b"\x81\xcb\x00\x02\x00\x00\x00\x01\x09\x00\x00\x00",  # BYE reason past end
        b"\x80\xcc\x00\x01\x00\x00\x00\x01",  # APP without name
        b"\x81\xcd\x00\x01\x00\x00\x00\x01",  # NACK without media SSRC
        b"\x84\xce\x00\x03\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01",  # FIR FCI cut
        b"\x8f\xce\x00\x04" + b"\x00" * 8 + b"REMB\x05\x00\x00\x00",  # REMB SSRCs missing
        b"\xa0\xc9\x00\x01\x00\x00\x00\x00",  # padding 0
        b"\x80\xc9\x00\x01\x00\x00\x00\x00\x80",  # trailing byte
    ],
)
def test_malformed_rtcp(data: bytes) -> None:
    with pytest.raises(RtcpError):
        parse_compound(data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=120))
def test_fuzz_only_rtcp_error(data: bytes) -> None:
    try:
        packets = parse_compound(data)
    except RtcpError:
        return
    parse_compound(serialize_compound(packets))  # what we parse, we can write and re-read


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=0xFFFF), unique=True, max_size=40))
def test_nack_lost_round_trip(seqs: list[int]) -> None:
    nack = Nack.from_lost(1, 2, seqs)
    assert sorted(nack.lost()) == sorted(seqs)
