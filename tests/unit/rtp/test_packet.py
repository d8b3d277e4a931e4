from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wcs.rtp.packet import (
    RtpError,
    RtpPacket,
    header,
    is_rtcp,
    is_rtp,
    pack_header,
    payload_bounds,
    rewrite,
    seq_ts_ssrc,
)

from .trace import rtcp_packets, rtp_packets

# SSRCs announced in the trace's SDP (a=ssrc): caller audio/video, callee audio/video.
SDP_SSRCS = {2028701791, 2161881639, 636407640, 696528693}


def test_trace_rtp_round_trips_byte_exactly() -> None:
    packets = rtp_packets()
    assert len(packets) == 569
    ssrcs = set()
    for pkt in packets:
        rtp = RtpPacket.parse(pkt.payload)
        assert rtp.serialize() == pkt.payload
        assert header(pkt.payload) == (rtp.payload_type, rtp.sequence, rtp.timestamp, rtp.ssrc)
        assert seq_ts_ssrc(pkt.payload) == (rtp.sequence, rtp.timestamp, rtp.ssrc)
        if not (rtp.csrc or rtp.padding or rtp.extension_profile is not None):
            head = pack_header(rtp.payload_type, rtp.sequence, rtp.timestamp, rtp.ssrc, rtp.marker)
            assert head == bytes(pkt.payload[:12])
        start, end = payload_bounds(pkt.payload)
        assert pkt.payload[start:end] == rtp.payload
        ssrcs.add(rtp.ssrc)
    assert ssrcs == SDP_SSRCS


def test_trace_payload_types() -> None:
    by_port: dict[int, set[int]] = {}
    for pkt in rtp_packets():
        by_port.setdefault(pkt.src[1], set()).add(header(pkt.payload)[0])
    # The callee (ports 20028/20012) sends PCMU and H.264 pm=0 (PT 96): first common codecs.
    assert by_port[20028] == {0}
    assert by_port[20012] == {96}


def test_rtp_rtcp_demux_on_trace() -> None:
    assert not any(is_rtcp(p.payload) for p in rtp_packets())
    assert all(is_rtp(p.payload) for p in rtp_packets())
    assert all(is_rtcp(p.payload) for p in rtcp_packets())
    assert not any(is_rtp(p.payload) for p in rtcp_packets())


def test_demux_boundaries() -> None:
    rtp = RtpPacket(payload_type=127, marker=True, payload=b"x").serialize()  # 2nd byte 0xFF
    assert rtp[1] == 0xFF and not is_rtcp(rtp) and is_rtp(rtp)
    rtp_pt_96 = RtpPacket(payload_type=96, marker=True).serialize()  # 0xE0 = 224
    assert not is_rtcp(rtp_pt_96)
    assert is_rtcp(bytes([0x80, 192, 0, 1, 0, 0, 0, 0]))
    assert is_rtcp(bytes([0x80, 223, 0, 1, 0, 0, 0, 0]))
    assert not is_rtcp(b"\x80\xc8")  # too short
    assert not is_rtcp(bytes([0x00, 200, 0, 1, 0, 0, 0, 0]))  # version 0 (e.g. STUN)


def test_all_header_features_round_trip() -> None:
    pkt = RtpPacket(
        payload_type=111,
        sequence=65535,
        timestamp=0xFFFFFFFF,
        ssrc=0xDEADBEEF,
        payload=b"opus",
        marker=True,
        csrc=[1, 2, 3],
        extension_profile=0xBEDE,
        extension=b"\x10\xff\x00\x00",
        padding=b"\x00\x00\x03",
    )
    data = pkt.serialize()
    assert data[0] == 0x80 | 0x20 | 0x10 | 3
    assert data[1] == 0x80 | 111
    assert len(data) == 12 + 12 + 4 + 4 + 4 + 3
    again = RtpPacket.parse(data)
    assert again == pkt
    assert payload_bounds(data) == (32, 36)
    assert bytes(pkt) == data


def test_rewrite_in_place_keeps_marker_and_payload() -> None:
    original = RtpPacket(96, 100, 5000, 0x11111111, b"payload", marker=True, csrc=[7]).serialize()
    buf = bytearray(original)
    rewrite(buf, 102, 65536 + 5, 2**32 + 9, 0x22222222)  # values wrap into their fields
    out = RtpPacket.parse(buf)
    assert (out.payload_type, out.sequence, out.timestamp, out.ssrc) == (102, 5, 9, 0x22222222)
    assert out.marker and out.payload == b"payload" and out.csrc == [7]
    buf2 = bytearray(RtpPacket(96, 1, 1, 1, b"p", marker=False).serialize())
    rewrite(buf2, 0, 2, 3, 4)
    assert buf2[1] < 0x80 and header(buf2) == (0, 2, 3, 4)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80\x00" + b"\x00" * 9,  # 11 bytes
        b"\x40" + b"\x00" * 11,  # version 1
        b"\x82" + b"\x00" * 11 + b"\x00\x00\x00\x01",  # 2 CSRCs, only one present
        b"\x90" + b"\x00" * 11 + b"\xbe\xde",  # extension header cut
        b"\x90" + b"\x00" * 11 + b"\xbe\xde\x00\x02" + b"\x00" * 4,  # extension cut
        b"\xa0" + b"\x00" * 11 + b"\x00",  # padding length 0
        b"\xa0" + b"\x00" * 11 + b"\x05",  # padding longer than the packet body
    ],
)
def test_malformed_rtp(data: bytes) -> None:
    with pytest.raises(RtpError):
        RtpPacket.parse(data)
    if len(data) >= 12 and data[0] >> 6 == 2:
        with pytest.raises(RtpError):
            payload_bounds(data)


def test_header_too_short() -> None:
    with pytest.raises(RtpError):
        header(b"\x80\x00\x00")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80))
def test_fuzz_parse_is_exact_or_rtp_error(data: bytes) -> None:
    try:
        pkt = RtpPacket.parse(data)
    except RtpError:
        return
    assert pkt.serialize() == data
    assert payload_bounds(data)[0] <= len(data)
