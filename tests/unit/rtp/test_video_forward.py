"""VideoForwarder: an injected stream's H.264 RTP re-stamped onto the call's video stream,
starting at a keyframe, continuous across switches, gaps kept, extensions dropped; a
transcoded stream's access units packetized in the call's mode."""

from __future__ import annotations

import struct

from wcs.app.media.taking_part import single_nal_needed
from wcs.media.h264.depacketizer import H264Depacketizer
from wcs.media.h264.nal import AccessUnit
from wcs.rtp.packet import RtpPacket
from wcs.rtp.send_state import SendState
from wcs.rtp.video_forward import FRAME_MTU, VideoForwarder, starts_picture

IDR_FU_START = bytes([0x7C, 0x85]) + b"idr"  # FU-A, start bit, type 5
FU_MIDDLE = bytes([0x7C, 0x05]) + b"mid"
SPS = bytes([0x67, 0x42, 0xE0, 0x1F])
STAP_SPS = bytes([0x78, 0x00, 0x04]) + SPS
P_SLICE = bytes([0x41, 0x9A])


def rtp(seq: int, ts: int, payload: bytes, marker: bool = False, ext: bool = False) -> bytes:
    head = struct.pack("!BBHII", 0x90 if ext else 0x80, (0x80 if marker else 0) | 102, seq, ts,
                       0xABCD)  # fmt: skip
    if ext:
        head += struct.pack("!HH", 0xBEDE, 1) + b"\x10\xff\x00\x00"
    return head + payload


def test_starts_picture() -> None:
    assert all(starts_picture(p) for p in (SPS, IDR_FU_START, STAP_SPS, bytes([0x65, 0x88])))
    assert not any(starts_picture(p) for p in (FU_MIDDLE, P_SLICE, b"", bytes([0x7C])))


def test_waits_for_a_keyframe_then_restamps_and_keeps_gaps() -> None:
    state = SendState(0x1234, 500, 9000, packets=3)  # three init packets went out
    fwd = VideoForwarder(state, 96)
    assert fwd.rewrite(rtp(10, 1000, P_SLICE)) == []  # no picture start yet
    assert fwd.rewrite(rtp(11, 1000, FU_MIDDLE)) == []
    out = [*fwd.rewrite(rtp(12, 4000, STAP_SPS, ext=True)),
           *fwd.rewrite(rtp(13, 4000, IDR_FU_START)),
           *fwd.rewrite(rtp(15, 4000, FU_MIDDLE, marker=True)),  # 14 lost
           *fwd.rewrite(rtp(16, 7000, P_SLICE, marker=True))]  # fmt: skip
    packets = [RtpPacket.parse(p) for p in out]
    assert [p.sequence for p in packets] == [500, 501, 503, 504]
    assert [p.timestamp for p in packets] == [9001, 9001, 9001, 12001]
    assert {p.ssrc for p in packets} == {0x1234} and {p.payload_type for p in packets} == {96}
    assert [p.marker for p in packets] == [False, False, True, True]
    assert packets[0].payload == STAP_SPS and not packets[0].extension  # extension dropped
    assert (state.sequence, state.timestamp) == (505, 12001)
    assert fwd.skipped == 2 and fwd.forwarded == 4
    # A switch to another source: nothing until its keyframe, then our stream goes on.
    fwd.restart()
    assert fwd.rewrite(rtp(60000, 5, P_SLICE)) == []
    (nxt,) = [RtpPacket.parse(p) for p in fwd.rewrite(rtp(60001, 8, SPS))]
    assert (nxt.sequence, nxt.timestamp) == (505, 12002)
    assert fwd.rewrite(b"\x80short") == [] and fwd.malformed == 1


def test_peer_keyframe_requests_reach_the_source() -> None:
    asked: list[int] = []
    fwd = VideoForwarder(SendState(1, 0, 0), 96, lambda: asked.append(1))
    fwd.keyframe_wanted()
    assert asked == [1]


def test_mode_1_into_a_mode_0_call_single_nal_units() -> None:
    state = SendState(7, 100, 0)
    fwd = VideoForwarder(state, 98, single_nal=True)
    pps = bytes([0x68, 0xCE, 0x38, 0x80])
    stap = bytes([0x78]) + len(SPS).to_bytes(2, "big") + SPS + len(pps).to_bytes(2, "big") + pps
    idr = bytes([0x65]) + bytes(range(200)) * 20  # 4001 bytes, sent in three FU-A fragments
    body = idr[1:]
    frags = [bytes([0x7C, 0x80 | 5]) + body[:1500], bytes([0x7C, 5]) + body[1500:3000],
             bytes([0x7C, 0x40 | 5]) + body[3000:]]  # fmt: skip
    out = [*fwd.rewrite(rtp(1, 90, stap)),
           *fwd.rewrite(rtp(2, 90, frags[0])),
           *fwd.rewrite(rtp(3, 90, frags[1])),
           *fwd.rewrite(rtp(4, 90, frags[2], marker=True))]  # fmt: skip
    packets = [RtpPacket.parse(p) for p in out]
    assert [p.payload for p in packets] == [SPS, pps, idr]
    assert [p.sequence for p in packets] == [100, 101, 102]
    assert [p.marker for p in packets] == [False, False, True]
    # A lost fragment drops that NAL unit only; the next one goes.
    p_frame = [bytes([0x5C, 0x80 | 1]) + b"a" * 10, bytes([0x5C, 0x40 | 1]) + b"b" * 10]
    assert fwd.rewrite(rtp(5, 180, p_frame[0])) == []
    assert fwd.rewrite(rtp(7, 180, p_frame[1], marker=True)) == []  # 6 lost
    assert fwd.dropped_nals == 1
    (single,) = [RtpPacket.parse(p) for p in fwd.rewrite(rtp(8, 270, P_SLICE, marker=True))]
    assert single.payload == P_SLICE and single.sequence == 103


def test_when_to_repacketize() -> None:
    mode1 = "profile-level-id=42e01f;packetization-mode=1"
    assert single_nal_needed({}, mode1)  # the call answered mode 0 (absent: 0)
    assert single_nal_needed({"packetization-mode": "0"}, None)  # unknown: a browser's mode 1
    assert not single_nal_needed({"packetization-mode": "1"}, mode1)
    assert not single_nal_needed({}, "profile-level-id=42e01f")  # a mode 0 source


def test_access_units_are_packetized_in_the_calls_mode_from_an_idr_on() -> None:
    """A transcoded stream's H.264 access units: nothing before an IDR, then on our stream
    (re-stamped as packets are); mode 1 fragments a large slice, mode 0 sends whole NAL
    units and drops one no datagram can carry."""
    pps, idr, big = bytes([0x68, 0xCE, 0x3C, 0x80]), bytes([0x65, 0x88]) + bytes(3000), bytes(70000)
    for single in (False, True):
        state = SendState(0x1234, 500, 9000, packets=3)
        fwd = VideoForwarder(state, 96, single_nal=single)
        assert fwd.frame(AccessUnit(90, [P_SLICE])) == [] and fwd.skipped == 1
        out = fwd.frame(AccessUnit(3000, [SPS, pps, idr], keyframe=True))
        out += fwd.frame(AccessUnit(6000, [P_SLICE, bytes([0x41, 0x9A]) + big]))
        packets = [RtpPacket.parse(p) for p in out]
        assert [p.sequence for p in packets] == list(range(500, 500 + len(packets)))
        assert {p.ssrc for p in packets} == {0x1234} and {p.payload_type for p in packets} == {96}
        stamps = [p.timestamp for p in packets]
        assert stamps[0] == 9001 and stamps[-1] == 12001  # continuing ours; a picture later
        assert [p.marker for p in packets].count(True) == 2 and packets[-1].marker
        assert starts_picture(packets[0].payload)
        nals: list[bytes] = []
        dep = H264Depacketizer(None)
        for p in packets:
            for au in dep.push(p.payload, p.sequence, p.timestamp, p.marker):
                nals += au.nals
        if single:  # one NAL unit a packet; the 70 kB one dropped
            assert [p.payload for p in packets] == [SPS, pps, idr, P_SLICE]
            assert fwd.dropped_nals == 1 and nals == [SPS, pps, idr, P_SLICE]
        else:  # STAP-A of SPS+PPS, FU-A fragments of at most FRAME_MTU
            assert packets[0].payload[0] & 0x1F == 24
            assert max(len(p.payload) for p in packets) <= FRAME_MTU
            assert nals == [SPS, pps, idr, P_SLICE, bytes([0x41, 0x9A]) + big]
