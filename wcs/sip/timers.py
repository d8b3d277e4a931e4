"""A keyed timer queue for sans-IO cores: the edge asks `next()` and calls `fire(now)`."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable

Callback = Callable[[float], object]


class TimerQueue:
    """Timers by key; setting a key again replaces it. Stale heap entries are skipped."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Hashable]] = []
        self._entries: dict[Hashable, tuple[float, int, Callback]] = {}
        self._seq = itertools.count()

    def set(self, key: Hashable, when: float, callback: Callback) -> None:
        seq = next(self._seq)
        self._entries[key] = (when, seq, callback)
        heapq.heappush(self._heap, (when, seq, key))

    def cancel(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def is_set(self, key: Hashable) -> bool:
        return key in self._entries

    def when(self, key: Hashable) -> float | None:
        entry = self._entries.get(key)
        return entry[0] if entry else None

    def _clean(self) -> None:
        while self._heap:
            _when, seq, key = self._heap[0]
            entry = self._entries.get(key)
            if entry is not None and entry[1] == seq:
                return
            heapq.heappop(self._heap)

    def next(self) -> float | None:
        self._clean()
        return self._heap[0][0] if self._heap else None

    def fire(self, now: float) -> None:
        """Run every timer due at `now`, in deadline order (callbacks may set new ones)."""
        while True:
            self._clean()
            if not self._heap or self._heap[0][0] > now:
                return
            _, _, key = heapq.heappop(self._heap)
            _, _, callback = self._entries.pop(key)
            callback(now)

    def __len__(self) -> int:
        return len(self._entries)
