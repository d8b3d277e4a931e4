"""Receiver feedback to a publishing browser, sans-IO: which packets to NACK, what to REMB.

:class:`NackList` watches one video SSRC's sequence numbers: a gap puts the missing numbers
on the list, each asked for at once and again every ``retry`` seconds up to ``tries`` times
(a retransmission may be lost too), forgotten once it arrives or is older than
``max_age``. The browser resends them on the same SSRC (no RTX is negotiated).

:class:`BitrateEstimate` is the loss-based half of Google congestion control (the browser's
own send-side rule, draft-ietf-rmcat-gcc 6): each interval, more than 10 % loss lowers the
estimate by half the loss, less than 2 % raises it by 8 %, within ``[low, high]``. Sent as
REMB, it keeps the browser's encoder rate between collapsing and flooding the link.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_MISSING = 256  # a bigger hole is a new start, not something to repair


@dataclass(slots=True)
class _Missing:
    due: float
    tries: int
    first: float


class NackList:
    def __init__(self, retry: float = 0.05, tries: int = 3, max_age: float = 1.0) -> None:
        self.retry = retry
        self.tries = tries
        self.max_age = max_age
        self.highest: int | None = None  # extended sequence number
        self.missing: dict[int, _Missing] = {}
        self.requested = 0  # sequence numbers put in NACKs (retries included)
        self.recovered = 0  # missing packets that came after all

    def receive(self, seq: int, now: float) -> bool:
        """One packet; True when it opened a gap (a NACK is due now)."""
        if self.highest is None:
            self.highest = seq
            return False
        delta = (seq - self.highest) & 0xFFFF
        if delta == 0:
            return False
        if delta >= 0x8000:  # older than the highest: late, maybe a retransmission
            ext = self.highest - ((self.highest - seq) & 0xFFFF)
            if self.missing.pop(ext, None) is not None:
                self.recovered += 1
            return False
        base = self.highest
        self.highest = base + delta
        if delta == 1:
            return False
        if delta > MAX_MISSING:
            self.missing.clear()
            return False
        for ext in range(base + 1, base + delta):
            self.missing[ext] = _Missing(now, 0, now)
        return True

    def get_timer(self) -> float | None:
        return min((m.due for m in self.missing.values()), default=None)

    def due(self, now: float) -> list[int]:
        """The 16-bit sequence numbers to NACK now (oldest first); schedules the retries."""
        out: list[int] = []
        for ext in sorted(self.missing):
            m = self.missing[ext]
            if m.tries >= self.tries or now - m.first > self.max_age:
                del self.missing[ext]
                continue
            if m.due <= now:
                out.append(ext & 0xFFFF)
                m.tries += 1
                m.due = now + self.retry
        self.requested += len(out)
        return out


class BitrateEstimate:
    def __init__(
        self,
        start: int = 1_500_000,
        low: int = 150_000,
        high: int = 4_000_000,
        interval: float = 1.0,
    ) -> None:
        self.bitrate = start
        self.low = low
        self.high = high
        self.interval = interval
        self.next_at: float | None = None
        self._received = 0
        self._first: int | None = None  # extended highest at the interval's start
        self._highest: int | None = None

    def receive(self, ext_seq: int) -> None:
        """One video packet (its extended sequence number) arrived."""
        self._received += 1
        if self._first is None:
            self._first = ext_seq - 1
        if self._highest is None or ext_seq > self._highest:
            self._highest = ext_seq

    def update(self, now: float) -> int:
        """Close the interval: the new estimate (bits per second). The first call opens the
        first interval and gives the start value."""
        opening = self.next_at is None
        self.next_at = now + self.interval
        if opening or self._first is None or self._highest is None:
            self._first, self._received = self._highest, 0
            return self.bitrate
        expected = self._highest - self._first
        if expected > 0:
            loss = max(0.0, 1.0 - self._received / expected)
            if loss > 0.10:
                self.bitrate = int(self.bitrate * (1.0 - 0.5 * loss))
            elif loss < 0.02:
                self.bitrate = int(self.bitrate * 1.08)
            self.bitrate = max(self.low, min(self.high, self.bitrate))
        self._first, self._received = self._highest, 0
        return self.bitrate
