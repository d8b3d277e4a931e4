from __future__ import annotations

import pytest

from wcs.rtp.rtcp import SenderReport
from wcs.rtp.sr import (
    SenderClock,
    ntp_middle32,
    ntp_to_seconds,
    seconds_to_ntp,
    signed32,
)
from wcs.rtp.stats import ReceiveStatistics, SourceStats


def _feed(stats: SourceStats, seqs: list[int], step: int = 160) -> list[bool]:
    """Packets at a steady 20 ms pace, timestamp following the sequence number."""
    return [stats.update(s & 0xFFFF, s * step, i * 0.02, 172) for i, s in enumerate(seqs)]


def test_probation_needs_two_sequential_packets() -> None:
    stats = SourceStats(1, 8000)
    assert _feed(stats, [10, 11, 12]) == [False, True, True]
    assert stats.base_seq == 11 and stats.received == 2 and stats.expected == 2
    s2 = SourceStats(2, 8000)
    # Out of order while on probation restarts it.
    assert [s2.update(s, 0, 0.0, 1) for s in (10, 20, 21, 22)] == [False, False, True, True]
    assert s2.base_seq == 21
    s3 = SourceStats(3, 8000, probation=0)  # a source already known from the SDP
    assert s3.update(5, 0, 0.0, 1) and s3.received == 1 and s3.expected == 1


def test_in_order_no_loss() -> None:
    stats = SourceStats(1, 8000, probation=0)
    assert all(_feed(stats, list(range(100))))
    block = stats.report_block(2.0)
    assert block is not None
    assert (block.packets_lost, block.fraction_lost, block.highest_sequence) == (0, 0, 99)
    assert stats.packets == 100 and stats.octets == 17200


def test_loss_and_fraction_since_last_report() -> None:
    stats = SourceStats(1, 8000, probation=0)
    _feed(stats, [s for s in range(100) if s % 10 != 5])  # 10 of 100 lost
    block = stats.report_block(2.0)
    assert block is not None
    assert block.packets_lost == 10
    assert block.fraction_lost == (10 << 8) // 100  # 25
    _feed(stats, list(range(100, 150)))  # next interval: nothing lost
    block = stats.report_block(3.0)
    assert block is not None and block.fraction_lost == 0 and block.packets_lost == 10
    assert stats.report_block(3.5) is not None  # empty interval: fraction 0, no division


def test_reordering_and_duplicates() -> None:
    stats = SourceStats(1, 8000, probation=0)
    assert all(_feed(stats, [0, 1, 3, 2, 4]))
    assert stats.max_seq == 4 and stats.cumulative_lost == 0
    _feed(stats, [4])  # duplicate: counted, so lost goes negative (RFC 3550 §6.4.1)
    assert stats.cumulative_lost == -1


def test_sequence_wrap() -> None:
    stats = SourceStats(1, 8000, probation=0)
    assert all(_feed(stats, list(range(65530, 65550))))
    assert stats.cycles == 65536 and stats.max_seq == 13
    assert stats.extended_max_seq == 65536 + 13
    assert stats.expected == 20 and stats.cumulative_lost == 0
    block = stats.report_block(1.0)
    assert block is not None and block.highest_sequence == 65549


def test_reordered_across_wrap_is_not_a_new_cycle() -> None:
    stats = SourceStats(1, 8000, probation=0)
    _feed(stats, [65534, 65535, 1, 0, 2])
    assert stats.cycles == 65536 and stats.max_seq == 2 and stats.cumulative_lost == 0


def test_sequence_jump_resyncs_after_two_sequential_packets() -> None:
    stats = SourceStats(1, 8000, probation=0)
    _feed(stats, list(range(10)))
    assert stats.update(20000, 0, 1.0, 1) is False  # one stray packet: ignored
    assert stats.update(10, 0, 1.02, 1) is True  # the stream goes on
    assert stats.resyncs == 0 and stats.max_seq == 10
    assert stats.update(30000, 0, 1.04, 1) is False
    assert stats.update(30001, 0, 1.06, 1) is True  # sender restarted: resync (A.1)
    assert stats.resyncs == 1 and stats.base_seq == 30001 and stats.received == 1
    assert stats.update(30002, 0, 1.08, 1) is True and stats.expected == 2


def test_large_backward_step_is_treated_as_jump() -> None:
    stats = SourceStats(1, 8000, probation=0)
    _feed(stats, list(range(1000, 1200)))
    # 150 back is more than MAX_MISORDER (100): a jump, not counted.
    assert stats.update(1050, 0, 5.0, 1) is False
    assert stats.received == 200
    # 50 back is reordering: counted, max unchanged.
    assert stats.update(1150, 0, 5.02, 1) is True
    assert stats.received == 201 and stats.max_seq == 1199


def test_jitter_hand_computed() -> None:
    stats = SourceStats(1, 8000, probation=0)
    # Timestamps advance 500 (62.5 ms at 8 kHz); arrivals 0, 62.5, 187.5, 250 ms.
    # Transit (arrival*8000 - ts): 0, 0, 500, 500 → |D| = 0, 500, 0.
    # J = 0 → 0 + (500-0)/16 = 31.25 → 31.25 + (0-31.25)/16 = 29.296875.
    for seq, (ts, arrival) in enumerate([(0, 0.0), (500, 0.0625), (1000, 0.1875), (1500, 0.25)]):
        stats.update(seq, ts, arrival, 100)
    assert stats.jitter == pytest.approx(29.296875)
    block = stats.report_block(1.0)
    assert block is not None and block.jitter == 29


def test_timestamp_jump_does_not_count_as_jitter() -> None:
    stats = SourceStats(1, 8000, probation=0)
    stats.update(0, 0, 0.0, 1)
    stats.update(1, 160, 0.02, 1)
    stats.update(2, 160 + 8000 * 60, 0.04, 1)  # sender's clock jumped a minute
    stats.update(3, 320 + 8000 * 60, 0.06, 1)
    assert stats.jitter == 0.0


def test_jitter_with_timestamp_wrap() -> None:
    stats = SourceStats(1, 90000, probation=0)
    base = 2**32 - 3000
    for i in range(4):
        stats.update(i, (base + 3000 * i) & 0xFFFFFFFF, i / 30, 1000)
    assert stats.jitter < 1.0  # perfectly paced, wrap notwithstanding


def test_report_block_lsr_dlsr_from_last_sr() -> None:
    stats = SourceStats(0xABCD, 8000, probation=0)
    _feed(stats, list(range(50)))
    block = stats.report_block(1.0)
    assert block is not None and block.lsr == 0 and block.dlsr == 0
    ntp = 0x83AA7E80_80000000
    stats.on_sender_report(ntp, 8000, 5.0)
    block = stats.report_block(5.5)
    assert block is not None
    assert block.ssrc == 0xABCD
    assert block.lsr == 0x7E808000
    assert block.dlsr == 32768  # 0.5 s in 1/65536 s


def test_bitrate_window() -> None:
    stats = SourceStats(1, 8000, probation=0)
    for i in range(51):  # 160-byte payloads every 20 ms for one second
        stats.update(i, i * 160, i / 50, 160)
    assert stats.bitrate == pytest.approx(64000)
    assert stats.current_bitrate(1.5) == pytest.approx(64000)
    assert stats.current_bitrate(10.0) == 0.0


def test_receive_statistics_table_and_ssrc_change() -> None:
    table = ReceiveStatistics(8000, probation=0)
    for i in range(10):
        table.on_rtp(111, i, i * 160, i * 0.02, 100)
    # The sender changes SSRC (e.g. after a re-INVITE): a fresh source, old one kept.
    for i in range(5):
        table.on_rtp(222, 40000 + i, 777 + i * 160, 1 + i * 0.02, 100)
    assert table.latest is not None and table.latest.ssrc == 222
    assert table.sources[222].expected == 5 and table.sources[111].expected == 10
    table.on_sender_report(SenderReport(222, 0x83AA7E80_00000000, 777), 1.0)
    rr = table.receiver_report(0x5555, 1.25)
    assert rr.ssrc == 0x5555 and [b.ssrc for b in rr.reports] == [111, 222]
    assert rr.reports[1].lsr == 0x7E800000 and rr.reports[1].dlsr == 16384
    assert table.expire(3.0, 1.5) == [111, 222]
    table.on_rtp(333, 1, 1, 3.0, 1)
    table.on_bye(333)
    assert table.sources == {} and table.latest is None


def test_ntp_helpers() -> None:
    assert ntp_middle32(0x83AA7E80_80000000) == 0x7E808000
    t = 1_700_000_000.25
    assert ntp_to_seconds(seconds_to_ntp(t)) == pytest.approx(t, abs=1e-6)
    assert seconds_to_ntp(0.5) == (2_208_988_800 << 32) | 0x80000000
    assert signed32(0xFFFFFFFF) == -1 and signed32(5) == 5


def test_sender_clock_maps_rtp_to_wallclock() -> None:
    clock = SenderClock(90000)
    assert clock.wallclock(0) is None and not clock.synchronized
    clock.update(seconds_to_ntp(1000.0), 90000)
    assert clock.wallclock(90000 + 45000) == pytest.approx(1000.5)
    assert clock.wallclock(90000 - 9000) == pytest.approx(999.9)
    clock.update(seconds_to_ntp(2000.0), 0xFFFFFF00)
    assert clock.wallclock(0x100) == pytest.approx(2000.0 + 512 / 90000)


def test_audio_video_alignment_through_srs() -> None:
    audio, video = SourceStats(1, 8000), SourceStats(2, 90000)
    # Both SRs sent at the same sender wall-clock instant, with unrelated RTP bases.
    ntp = seconds_to_ntp(1_700_000_000.0)
    audio.on_sender_report(ntp, 123_456, 0.0)
    video.on_sender_report(ntp, 3_000_000_000, 0.0)
    # A sample captured 2.5 s later on each track maps to the same wall-clock time.
    a = audio.wallclock(123_456 + int(2.5 * 8000))
    v = video.wallclock(3_000_000_000 + int(2.5 * 90000))
    assert a is not None and v is not None and a == pytest.approx(v)
