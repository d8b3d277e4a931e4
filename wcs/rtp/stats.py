"""Per-SSRC receive statistics (RFC 3550 A.1, A.3, A.8) and the RR report blocks built from them.

Sans-IO: every call takes the arrival time (seconds, any monotonic clock) from the caller.
``SourceStats.update`` is on the per-packet path: a few integer operations, no allocations.
"""

from __future__ import annotations

from .rtcp import ReceiverReport, ReportBlock, SenderReport
from .sr import SenderClock, ntp_middle32, signed32

__all__ = [
    "MAX_DROPOUT",
    "MAX_MISORDER",
    "MIN_SEQUENTIAL",
    "ReceiveStatistics",
    "SourceStats",
]

RTP_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000  # A.1: a forward jump up to this is loss, not a restart
MAX_MISORDER = 100  # A.1: a backward step up to this is reordering/duplication
MIN_SEQUENTIAL = 2  # A.1: packets in sequence before a new source is valid
TIMESTAMP_JUMP_SECONDS = 5.0  # a transit change larger than this is a timestamp jump,
# not jitter: it would otherwise inflate the jitter estimate for a long time (1/16 decay)


class SourceStats:
    """Receive state of one SSRC."""

    __slots__ = (
        "_jump_limit",
        "_min_sequential",
        "_transit",
        "_window_bytes",
        "_window_start",
        "bad_seq",
        "base_seq",
        "bitrate",
        "bitrate_window",
        "clock",
        "clock_rate",
        "cycles",
        "expected_prior",
        "jitter",
        "last_arrival",
        "last_sr_arrival",
        "last_sr_ntp",
        "max_seq",
        "octets",
        "packets",
        "probation",
        "received",
        "received_prior",
        "resyncs",
        "ssrc",
    )

    def __init__(
        self,
        ssrc: int,
        clock_rate: int,
        *,
        probation: int = MIN_SEQUENTIAL,
        bitrate_window: float = 1.0,
    ) -> None:
        if clock_rate <= 0:
            raise ValueError("clock_rate must be positive")
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self._min_sequential = probation
        self._jump_limit = int(clock_rate * TIMESTAMP_JUMP_SECONDS)
        self.clock = SenderClock(clock_rate)
        # A.1 state; probation == -1 means "no packet seen yet".
        self.probation = -1
        self.base_seq = 0
        self.max_seq = 0
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0
        self.resyncs = 0  # restarts detected (A.1: two sequential packets after a big jump)
        self.jitter = 0.0  # A.8, in timestamp units
        self._transit: int | None = None
        self.packets = 0  # every packet seen, valid or not
        self.octets = 0
        self.last_arrival: float | None = None
        self.bitrate = 0.0  # bits/s over the last complete window
        self.bitrate_window = bitrate_window
        self._window_start: float | None = None
        self._window_bytes = 0
        self.last_sr_ntp = 0  # NTP timestamp of the last SR from this source
        self.last_sr_arrival: float | None = None

    # ---------------------------------------------------------------- per packet
    def update(self, seq: int, timestamp: int, arrival: float, size: int) -> bool:
        """Account one RTP packet; False while on probation or for a stray jump (A.1).

        ``size`` is what the bitrate counts (payload or whole packet, the caller's choice).
        A False packet may still be used; it is just not counted as received.
        """
        self.packets += 1
        self.octets += size
        self.last_arrival = arrival
        start = self._window_start
        if start is None:
            self._window_start = arrival
            self._window_bytes = size
        elif arrival - start >= self.bitrate_window:
            self.bitrate = self._window_bytes * 8 / (arrival - start)
            self._window_start = arrival
            self._window_bytes = size
        else:
            self._window_bytes += size

        if self.probation < 0:  # first packet of this source
            self._init_seq(seq)
            if self._min_sequential > 0:
                self.probation = self._min_sequential
                self.max_seq = (seq - 1) & 0xFFFF
            else:
                self.probation = 0
                self.received = 1
                self._jitter(timestamp, arrival)
                return True

        if self.probation:
            if seq == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received = 1
                    self._jitter(timestamp, arrival)
                    return True
            else:
                self.probation = max(self._min_sequential - 1, 1)
                self.max_seq = seq
            return False

        udelta = (seq - self.max_seq) & 0xFFFF
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD  # wrapped
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq != self.bad_seq:
                self.bad_seq = (seq + 1) & 0xFFFF
                return False
            # Two sequential packets after a large jump: the sender restarted; resync.
            self._init_seq(seq)
            self.resyncs += 1
            self._transit = None
        # else: duplicate or reordered packet; counted, max_seq unchanged
        self.received += 1
        self._jitter(timestamp, arrival)
        return True

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def _jitter(self, timestamp: int, arrival: float) -> None:
        # A.8: transit = arrival (in the codec clock) - RTP timestamp; J += (|D| - J) / 16.
        transit = (int(arrival * self.clock_rate) - timestamp) & 0xFFFFFFFF
        last = self._transit
        self._transit = transit
        if last is not None:
            d = signed32(transit - last)
            if d < 0:
                d = -d
            if d < self._jump_limit:
                self.jitter += (d - self.jitter) / 16.0

    # ---------------------------------------------------------------- reports
    @property
    def valid(self) -> bool:
        return self.probation == 0

    @property
    def extended_max_seq(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max_seq - self.base_seq + 1 if self.valid else 0

    @property
    def cumulative_lost(self) -> int:
        """Expected minus received (negative with duplicates), clamped to 24 bits signed."""
        return max(-0x800000, min(0x7FFFFF, self.expected - self.received))

    def current_bitrate(self, now: float) -> float:
        """The last window's bitrate, or 0 when nothing arrived for two windows."""
        if self.last_arrival is None or now - self.last_arrival > 2 * self.bitrate_window:
            return 0.0
        return self.bitrate

    def on_sender_report(self, ntp_timestamp: int, rtp_timestamp: int, arrival: float) -> None:
        self.last_sr_ntp = ntp_timestamp
        self.last_sr_arrival = arrival
        self.clock.update(ntp_timestamp, rtp_timestamp)

    def wallclock(self, rtp_timestamp: int) -> float | None:
        """Sender wall-clock time of an RTP timestamp (via the last SR), None before one."""
        return self.clock.wallclock(rtp_timestamp)

    def report_block(self, now: float) -> ReportBlock | None:
        """The RR report block for this source (A.3); advances the 'since last report' state.

        None while no packet has been validated.
        """
        if not self.valid:
            return None
        expected = self.expected
        expected_interval = expected - self.expected_prior
        self.expected_prior = expected
        received_interval = self.received - self.received_prior
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        if self.last_sr_arrival is None:
            lsr = dlsr = 0
        else:
            lsr = ntp_middle32(self.last_sr_ntp)
            dlsr = max(0, int((now - self.last_sr_arrival) * 65536))
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            packets_lost=self.cumulative_lost,
            highest_sequence=self.extended_max_seq & 0xFFFFFFFF,
            jitter=int(self.jitter),
            lsr=lsr,
            dlsr=dlsr,
        )


class ReceiveStatistics:
    """All sources received on one RTP session (one m-line): SSRC → :class:`SourceStats`.

    A new SSRC (the sender restarted or changed it, e.g. after a re-INVITE) simply gets a new
    entry; old ones go on BYE or :meth:`expire`, and beyond ``max_sources`` the stalest one
    makes room (a flood of SSRCs must not grow the table).
    """

    def __init__(
        self,
        clock_rate: int,
        *,
        probation: int = MIN_SEQUENTIAL,
        bitrate_window: float = 1.0,
        max_sources: int = 0,
    ) -> None:
        self.clock_rate = clock_rate
        self.max_sources = max_sources  # 0: unbounded
        self.probation = probation
        self.bitrate_window = bitrate_window
        self.sources: dict[int, SourceStats] = {}
        self.latest: SourceStats | None = None  # the source that sent last

    def source(self, ssrc: int) -> SourceStats:
        stats = self.sources.get(ssrc)
        if stats is None:
            if self.max_sources and len(self.sources) >= self.max_sources:
                self.on_bye(min(self.sources.values(), key=_staleness).ssrc)
            stats = SourceStats(
                ssrc,
                self.clock_rate,
                probation=self.probation,
                bitrate_window=self.bitrate_window,
            )
            self.sources[ssrc] = stats
        return stats

    def on_rtp(self, ssrc: int, seq: int, timestamp: int, arrival: float, size: int) -> bool:
        stats = self.latest
        if stats is None or stats.ssrc != ssrc:
            stats = self.latest = self.source(ssrc)
        return stats.update(seq, timestamp, arrival, size)

    def on_sender_report(self, sr: SenderReport, arrival: float) -> None:
        self.source(sr.ssrc).on_sender_report(sr.ntp_timestamp, sr.rtp_timestamp, arrival)

    def on_bye(self, ssrc: int) -> None:
        removed = self.sources.pop(ssrc, None)
        if removed is not None and removed is self.latest:
            self.latest = None

    def expire(self, now: float, timeout: float, keep: int | None = None) -> list[int]:
        """Forget sources silent for ``timeout`` seconds (but ``keep``); returns their SSRCs."""
        gone = [
            s.ssrc
            for s in self.sources.values()
            if (s.last_arrival if s.last_arrival is not None else now) < now - timeout
            and s.ssrc != keep
        ]
        for ssrc in gone:
            self.on_bye(ssrc)
        return gone

    def report_blocks(self, now: float, limit: int = 31) -> list[ReportBlock]:
        blocks = []
        for stats in self.sources.values():
            block = stats.report_block(now)
            if block is not None:
                blocks.append(block)
                if len(blocks) == limit:
                    break
        return blocks

    def receiver_report(self, sender_ssrc: int, now: float) -> ReceiverReport:
        return ReceiverReport(sender_ssrc, self.report_blocks(now))


def _staleness(s: SourceStats) -> float:
    return s.last_arrival if s.last_arrival is not None else float("-inf")
