"""Pump: transmit, deliver events in order, one timer moved only when the deadline moves."""

from __future__ import annotations

import asyncio
import logging
from collections import deque

import pytest

from wcs.sansio import Pump

pytestmark = pytest.mark.asyncio


class FakeCore:
    """A datagram core whose deadline and output the test sets by hand."""

    def __init__(self) -> None:
        self.timer: float | None = None
        self.out: list[tuple[bytes, str]] = []
        self.events: deque[object] = deque()
        self.fired: list[float] = []
        self.timer_queries = 0

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, str]]:
        out, self.out = self.out, []
        return out

    def get_timer(self) -> float | None:
        self.timer_queries += 1
        return self.timer

    def handle_timer(self, now: float) -> None:
        self.fired.append(now)
        self.timer = None
        self.out.append((b"fired", "peer"))

    def next_event(self) -> object | None:
        return self.events.popleft() if self.events else None


def armed(delay: float) -> tuple[FakeCore, Recorder, Pump[FakeCore]]:
    """A core due in ``delay`` seconds, its recorder, and the pump that armed it."""
    core = FakeCore()
    rec = Recorder(core)
    pump = Pump(core, rec.transmit, rec.on_event)
    core.timer = asyncio.get_running_loop().time() + delay
    pump.wake()
    return core, rec, pump


class Recorder:
    def __init__(self, core: FakeCore) -> None:
        self.core = core
        self.sent: list[tuple[bytes, str]] = []
        self.events: list[object] = []

    def transmit(self, now: float) -> None:
        self.sent.extend(self.core.datagrams_to_send(now))

    def on_event(self, event: object) -> None:
        self.events.append(event)


async def test_wake_transmits_and_delivers_events_in_order() -> None:
    core = FakeCore()
    rec = Recorder(core)
    pump = Pump(core, rec.transmit, rec.on_event)
    core.out.append((b"a", "x"))
    core.events.extend(["one", "two"])
    pump.wake()
    assert rec.sent == [(b"a", "x")]
    assert rec.events == ["one", "two"]
    assert pump.timer_at is None


async def test_timer_fires_once_at_the_core_deadline() -> None:
    loop = asyncio.get_running_loop()
    core, rec, pump = armed(0.01)
    assert pump.timer_at == core.timer
    await asyncio.sleep(0.05)
    assert len(core.fired) == 1
    assert core.fired[0] >= loop.time() - 1.0
    assert rec.sent == [(b"fired", "peer")]  # what the timer made the core say went out
    assert pump.timer_at is None  # the core has no deadline left: nothing armed


async def test_same_deadline_keeps_the_handle_and_a_new_one_moves_it() -> None:
    loop = asyncio.get_running_loop()
    core = FakeCore()
    pump = Pump(core, lambda now: None)
    core.timer = loop.time() + 100.0
    pump.wake()
    first = pump._timer
    pump.wake()
    assert pump._timer is first  # unchanged deadline: no cancel/re-arm
    core.timer = loop.time() + 50.0
    pump.wake()
    assert pump._timer is not first and first is not None and first.cancelled()
    assert pump.timer_at == core.timer
    core.timer = None
    pump.wake()
    assert pump.timer_at is None
    pump.close()


async def test_handler_acting_on_the_core_is_flushed_before_returning() -> None:
    core = FakeCore()
    rec = Recorder(core)
    pump: Pump[FakeCore]

    def on_event(event: object) -> None:
        rec.events.append(event)
        if event == "ask":
            core.out.append((b"reply", "y"))  # an action on the core from the handler
            core.events.append("answered")
            pump.wake()  # re-entrant: the pump loops once more instead of recursing

    pump = Pump(core, rec.transmit, on_event)
    core.events.append("ask")
    pump.wake()
    assert rec.sent == [(b"reply", "y")]
    assert rec.events == ["ask", "answered"]


async def test_a_failing_handler_is_logged_and_later_events_still_arrive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    core = FakeCore()
    seen: list[object] = []

    def on_event(event: object) -> None:
        if event == "bad":
            raise RuntimeError("owner bug")
        seen.append(event)

    pump = Pump(core, lambda now: None, on_event)
    core.events.extend(["bad", "good"])
    with caplog.at_level(logging.ERROR, logger="wcs.sansio"):
        pump.wake()
    assert seen == ["good"]
    assert "event handler failed" in caplog.text


async def test_close_cancels_the_timer_and_ignores_later_wakes() -> None:
    core, rec, pump = armed(0.01)
    handle = pump._timer
    pump.close()
    assert handle is not None and handle.cancelled()
    core.out.append((b"late", "z"))
    pump.wake()
    await asyncio.sleep(0.03)
    assert core.fired == [] and rec.sent == []
    assert pump.timer_at is None


async def test_a_past_deadline_fires_on_the_next_loop_iteration() -> None:
    loop = asyncio.get_running_loop()
    core = FakeCore()
    pump = Pump(core, lambda now: None)
    core.timer = loop.time() - 5.0
    pump.wake()
    assert core.fired == []  # never synchronously from wake()
    for _ in range(3):  # a due timer runs within the next loop iterations, no sleeping
        await asyncio.sleep(0)
    assert len(core.fired) == 1
