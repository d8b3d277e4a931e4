"""An optional reordering jitter buffer for one RTP stream (sans-IO, injected clock).

Feed ``push(seq, timestamp, arrival, packet)``; poll ``pop_ready(now)`` when a packet came
in or at ``next_deadline()``. Packets leave strictly in sequence order:

* at once when nothing is missing before them (no delay is added to an in-order stream —
  browsers and decoders keep their own playout buffers);
* when a gap precedes a packet, it waits until the gap is filled or ``latency`` seconds have
  passed since that packet's (or any later one's) arrival; then the gap is declared lost.

Duplicates and packets whose turn has passed (up to ``max_misorder`` behind) are dropped
and counted. Sequence numbers wrap at 2**16. A packet further away than that behind, or
``capacity`` or more ahead, is held aside; if the next packet follows it, the sender
restarted (or a long outage ended): what is buffered is released and the buffer restarts
there; otherwise it was a stray packet and is dropped as late (RFC 3550 A.1 does the same).
The first packet fixes the starting point (a packet older than it counts as late).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class JitterStats:
    received: int = 0
    released: int = 0
    lost: int = 0  # sequence numbers given up on
    late: int = 0  # arrived after their turn, dropped
    duplicate: int = 0  # already buffered, dropped
    resets: int = 0  # large jumps and overflows


class JitterBuffer(Generic[T]):
    def __init__(self, latency: float = 0.1, capacity: int = 500, max_misorder: int = 1000) -> None:
        if latency < 0 or not 2 <= capacity < 0x8000 or not 0 <= max_misorder < 0x8000:
            raise ValueError("need latency >= 0, 2 <= capacity < 32768, max_misorder < 32768")
        self.latency = latency
        self.capacity = capacity
        self.max_misorder = max_misorder
        self.stats = JitterStats()
        self._next = -1  # next sequence number to release; -1 before the first packet
        self._buf: dict[int, tuple[float, int, T]] = {}  # seq → (arrival, timestamp, packet)
        self._ready: list[T] = []  # released by a reset, handed out at the next pop
        self._jump: tuple[int, int, float, T] | None = None  # a far-away packet on probation

    def __len__(self) -> int:
        return len(self._buf) + len(self._ready)

    def push(self, seq: int, timestamp: int, arrival: float, packet: T) -> None:
        stats = self.stats
        stats.received += 1
        if self._next < 0:
            self._next = seq
        d = (seq - self._next) & 0xFFFF
        if d >= self.capacity:
            jump = self._jump
            self._jump = None
            if 0x10000 - d <= self.max_misorder:
                stats.late += 1 if jump is None else 2  # a pending stray one too
                return
            if jump is None or (jump[0] + 1) & 0xFFFF != seq:
                if jump is not None:
                    stats.late += 1  # the previous far-away packet was a stray one
                self._jump = (seq, timestamp, arrival, packet)
                return
            stats.resets += 1
            self._release_all()
            self._next = jump[0]
            self._buf[jump[0]] = (jump[2], jump[1], jump[3])
        elif seq in self._buf:
            stats.duplicate += 1
            return
        if self._jump is not None:
            stats.late += 1
            self._jump = None
        self._buf[seq] = (arrival, timestamp, packet)

    def pop_ready(self, now: float) -> list[T]:
        out = self._ready
        self._ready = []
        buf = self._buf
        while buf:
            entry = buf.pop(self._next, None)
            if entry is not None:
                out.append(entry[2])
                self._next = (self._next + 1) & 0xFFFF
                continue
            # Something is missing: give up on it once any later packet waited long enough.
            if min(e[0] for e in buf.values()) + self.latency > now:
                break
            self._skip_to_first()
        self.stats.released += len(out)
        return out

    def next_deadline(self) -> float | None:
        """When ``pop_ready`` next has something to do (may be in the past); None: idle."""
        if self._ready:
            return float("-inf")
        if not self._buf:
            return None
        head = self._buf.get(self._next)
        if head is not None:
            return head[0]
        return min(e[0] for e in self._buf.values()) + self.latency

    def flush(self) -> list[T]:
        """Everything still held, in sequence order (on stop); the buffer starts over."""
        self._release_all()
        out = self._ready
        self._ready = []
        if self._jump is not None:
            out.append(self._jump[3])
            self._jump = None
        self.stats.released += len(out)
        self._next = -1
        return out

    def _skip_to_first(self) -> None:
        nxt = self._next
        d = min((s - nxt) & 0xFFFF for s in self._buf)
        self.stats.lost += d
        self._next = (nxt + d) & 0xFFFF

    def _release_all(self) -> None:
        buf = self._buf
        nxt = self._next
        for s in sorted(buf, key=lambda s: (s - nxt) & 0xFFFF):
            self._ready.append(buf[s][2])
        # Counted as lost: the holes between the released packets.
        if buf:
            span = max((s - nxt) & 0xFFFF for s in buf) + 1
            self.stats.lost += span - len(buf)
            self._next = (nxt + span) & 0xFFFF
        buf.clear()
