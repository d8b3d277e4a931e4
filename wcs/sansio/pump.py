"""`Pump`: the asyncio edge shared by every sans-IO core (transmit, deliver events, re-arm)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .contract import Core

log = logging.getLogger(__name__)

C = TypeVar("C", bound=Core)


class Pump(Generic[C]):
    """Drives one core on one event loop.

    `transmit(now)` drains the core's output (flavour-specific: `datagrams_to_send` onto a
    socket, `data_to_send` onto a stream). `on_event(event)` gets every event in order; it may
    act on the core again — the pump then loops once more before re-arming, so nothing the
    handler caused waits for a timer. Exactly one timer handle is kept, moved only when the
    core's deadline changes.
    """

    def __init__(
        self,
        core: C,
        transmit: Callable[[float], None],
        on_event: Callable[[Any], None] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.core = core
        self._transmit = transmit
        self._on_event = on_event
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._waking = False
        self._again = False
        self.closed = False

    def now(self) -> float:
        return self._loop.time()

    def wake(self) -> None:
        """Call after feeding the core or acting on it: flush, deliver events, re-arm."""
        if self.closed:
            return
        if self._waking:
            self._again = True  # an event handler acted on the core: loop once more
            return
        self._waking = True
        try:
            while True:
                self._again = False
                self._transmit(self.now())
                while (event := self.core.next_event()) is not None:
                    if self._on_event is None:
                        continue
                    try:
                        self._on_event(event)
                    except Exception:
                        log.exception("event handler failed for %r", event)
                if not self._again or self.closed:
                    break
        finally:
            self._waking = False
        self._arm()

    def close(self) -> None:
        """Stop driving the core: the timer is cancelled, later `wake()`s do nothing."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    @property
    def timer_at(self) -> float | None:
        """The deadline the pump's one timer is armed for (None: no timer)."""
        return self._timer_at if self._timer is not None else None

    def _arm(self) -> None:
        if self.closed:
            return
        when = self.core.get_timer()
        if when == self._timer_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        if self.closed:
            return
        self.core.handle_timer(self.now())
        self.wake()
