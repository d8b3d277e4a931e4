"""Graceful drain (setting ``drain_timeout``): on SIGTERM a node first stops taking new calls
and viewers, waits for its calls to end (up to the timeout), then shuts down as usual.

New ``/call/startup`` requests get 503 ``{"error": "node is draining"}``, new viewers (WS,
WHEP) 503 too; calls and viewers already there go on. In a cluster the node's heartbeat says
``draining``, so edges place new calls elsewhere. Waiting needs no polling: the call
manager's watcher wakes it when a call ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from wcs.app.call import FINAL_STATUSES, Call
from wcs.app.calls import CallManager
from wcs.rest.message import Request, Response, error
from wcs.rest.router import Handler, Router

log = logging.getLogger("wcs")

STARTUP = "/rest-api/call/startup"
DRAINING = "node is draining"


class Drain:
    def __init__(self, calls: CallManager, router: Router) -> None:
        self.calls = calls
        self.active = False
        self._on_change: list[Callable[[], None]] = []
        self._router = router

    def install(self) -> None:
        """Refuse new calls while draining (wraps what serves /call/startup now)."""
        inner: list[Handler] = []

        def make() -> Handler:
            async def startup(req: Request) -> Response:
                if self.active:
                    return error(503, DRAINING)
                return await inner[0](req)

            return startup

        inner.append(self._router.wrap(STARTUP, make))

    def on_change(self, callback: Callable[[], None]) -> None:
        self._on_change.append(callback)

    async def run(self, timeout: float) -> None:
        """Stop taking new work; return once no call is left or ``timeout`` has passed."""
        self.active = True
        for callback in self._on_change:
            callback()
        left = len(self.calls.all())
        log.info("draining: %d calls left, waiting up to %.0f s", left, timeout)
        empty = asyncio.Event()

        def check(_call: Call | None = None) -> None:
            # Watchers hear a call's final status before the manager drops it.
            if all(c.status in FINAL_STATUSES for c in self.calls.all()):
                empty.set()

        watch = self.calls.watch(check)
        check()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(empty.wait(), timeout)
        finally:
            watch.cancel()
        log.info("drained: %d calls left", len(self.calls.all()))
