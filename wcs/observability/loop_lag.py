"""Event-loop lag: how late a periodic callback runs. A busy or blocked loop delays every
packet and every timer, so this is the first number to look at when media stutters."""

from __future__ import annotations

import asyncio


class LoopLagMonitor:
    """Schedules itself every ``interval`` seconds and records how late it ran."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.last = 0.0  # seconds late, last measurement
        self.max = 0.0
        self.total = 0.0  # sum of lags, with ``count``: the mean
        self.count = 0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.interval
        self._handle = loop.call_at(due, self._tick, due)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def record(self, lag: float) -> None:
        lag = max(0.0, lag)
        self.last = lag
        self.max = max(self.max, lag)
        self.total += lag
        self.count += 1

    def _tick(self, due: float) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.record(now - due)
        nxt = now + self.interval
        self._handle = loop.call_at(nxt, self._tick, nxt)
