from __future__ import annotations

import random
import struct

from wcs.rtp import rtcp
from wcs.rtp.sr import NTP_UNIX_OFFSET
from wcs.webrtc.sender import HISTORY_SIZE, MAX_PACKET, TrackSender


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rtp(seq: int, ts: int, ssrc: int, pt: int = 96, marker: bool = False, size: int = 100) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq, ts, ssrc) + b"p" * size


def header(p: bytes) -> tuple[int, int, int, int, int]:
    b1, seq, ts, ssrc = struct.unpack_from("!BHII", p, 1)
    return b1 & 0x80, b1 & 0x7F, seq, ts, ssrc


def rewrite(s: TrackSender, packet: bytes) -> bytes | None:
    """The rewritten packet as bytes (None when refused), through the hot path's call."""
    buf = memoryview(bytearray(MAX_PACKET))
    n = s.rewrite_into(packet, buf)
    return bytes(buf[:n]) if n else None


def make(clock: Clock | None = None) -> TrackSender:
    return TrackSender(
        "video", 0xABCDEF01, 102, 90000, "cn", clock=clock or Clock(), rng=random.Random(1)
    )


def test_rewrite_fields_and_offsets() -> None:
    s = make()
    a = rewrite(s, rtp(1000, 5000, 0x11, marker=True))
    b = rewrite(s, rtp(1001, 8000, 0x11))
    assert a is not None and b is not None
    ma, pta, seqa, tsa, ssrca = header(a)
    mb, ptb, seqb, tsb, ssrcb = header(b)
    assert (ma, mb) == (0x80, 0)
    assert pta == ptb == 102
    assert ssrca == ssrcb == 0xABCDEF01
    assert seqb == (seqa + 1) & 0xFFFF
    assert (tsb - tsa) & 0xFFFFFFFF == 3000
    assert a[12:] == b"p" * 100
    assert s.packets == 2 and s.octets == 200


def test_continuity_across_source_ssrc_change() -> None:
    clock = Clock()
    s = make(clock)
    last = rewrite(s, rtp(65535, 0xFFFFFF00, 0x11))
    assert last is not None
    clock.now += 0.5
    nxt = rewrite(s, rtp(17, 42, 0x22))  # new source: unrelated seq and ts
    assert nxt is not None
    assert header(nxt)[2] == (header(last)[2] + 1) & 0xFFFF
    assert (header(nxt)[3] - header(last)[3]) & 0xFFFFFFFF == 45000  # 0.5 s at 90 kHz
    after = rewrite(s, rtp(18, 42 + 3000, 0x22))
    assert after is not None and header(after)[2] == (header(nxt)[2] + 1) & 0xFFFF


def test_reordering_kept_but_restart_resyncs() -> None:
    s = make()
    out = [rewrite(s, rtp(5000 + i, 3000 * i, 0x11)) for i in (0, 2, 1, 3)]
    seqs = [header(p or b"")[2] for p in out]
    base = seqs[0]
    assert seqs == [base, (base + 2) & 0xFFFF, (base + 1) & 0xFFFF, (base + 3) & 0xFFFF]
    # Same SSRC, sequence restarted far behind: continue after the newest sent.
    again = rewrite(s, rtp(10, 0, 0x11))
    assert again is not None and header(again)[2] == (base + 4) & 0xFFFF
    nxt = rewrite(s, rtp(11, 3000, 0x11))
    assert nxt is not None and header(nxt)[2] == (base + 5) & 0xFFFF


def test_first_packet_any_start() -> None:
    for seed in range(20):
        s = TrackSender("audio", 1, 0, 8000, "c", clock=Clock(), rng=random.Random(seed))
        a, b = rewrite(s, rtp(100, 0, 3)), rewrite(s, rtp(101, 160, 3))
        assert a is not None and b is not None
        assert header(b)[2] == (header(a)[2] + 1) & 0xFFFF


def test_malformed_is_counted_not_sent() -> None:
    s = make()
    assert rewrite(s, b"\x80\x00") is None
    assert rewrite(s, b"\x00" * 20) is None
    assert rewrite(s, rtp(1, 0, 0x11) + bytes(MAX_PACKET)) is None  # larger than any MTU
    assert s.malformed == 3 and s.packets == 0


def test_rewrite_into_overwrites_the_buffer_in_place() -> None:
    s = make()
    buf = memoryview(bytearray(b"\xee" * MAX_PACKET))  # a longer packet was there before
    src = rtp(7, 160, 0x11) + bytes(range(40))
    n = s.rewrite_into(src, buf)
    assert n == len(src)
    out = bytes(buf[:n])
    assert out[12:] == src[12:]  # payload copied as is
    _, pt, _, _, ssrc = header(out)
    assert (pt, ssrc) == (102, 0xABCDEF01)
    assert buf[n] == 0xEE  # nothing written past the packet


def test_history_keeps_last_packets() -> None:
    s = make()
    sent = [rewrite(s, rtp(i, i * 10, 5)) for i in range(HISTORY_SIZE + 10)]
    first_seq = header(sent[0] or b"")[2]
    last = sent[-1]
    assert last is not None
    last_seq = header(last)[2]
    assert s.history(last_seq) == last
    assert s.history(first_seq) is None  # overwritten
    assert s.history((first_seq + 10) & 0xFFFF) == sent[10]
    assert s.history((last_seq + 1) & 0xFFFF) is None


def test_sender_report_contents() -> None:
    clock = Clock()
    s = make(clock)
    p = rewrite(s, rtp(1, 1000, 9, size=50))
    assert p is not None
    out_ts = header(p)[3]
    clock.now += 0.1
    report = s.sender_report(1_700_000_000.25)
    sr, sdes = rtcp.parse_compound(report)
    assert isinstance(sr, rtcp.SenderReport) and isinstance(sdes, rtcp.Sdes)
    assert sr.ssrc == 0xABCDEF01
    assert sr.ntp_timestamp >> 32 == 1_700_000_000 + NTP_UNIX_OFFSET
    assert sr.ntp_timestamp & 0xFFFFFFFF == 1 << 30
    assert sr.rtp_timestamp == (out_ts + 9000) & 0xFFFFFFFF
    assert (sr.packet_count, sr.octet_count) == (1, 50)
    assert sr.reports == []
    assert sdes.cname(0xABCDEF01) == "cn"
