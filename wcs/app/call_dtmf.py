"""The DTMF keys a call received, and what waits for them in the process.

Every key (RFC 4733 or SIP INFO, already reported once by its carrier's core) lands in the
call's :class:`ReceivedKeys`: the last :data:`KEPT` are shown in ``/call/find`` (``dtmf``,
our extension) and :meth:`ReceivedKeys.wait` lets code in the process wait for digits (the
inbound-call PIN: ``await call.dtmf.wait(4, timeout=10)``). The hook event and the metric
are the call manager's business (:mod:`wcs.app.call_actions`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from wcs.media.dtmf import DtmfKey

KEPT = 32  # keys shown in /call/find


@dataclass(frozen=True, slots=True)
class ReceivedKey:
    digit: str
    type: str  # RFC2833, INFO, INFO_RELAY
    duration: int  # ms, 0 when the carrier did not say
    at: float  # wall clock

    def to_json(self) -> dict[str, Any]:
        return {"dtmf": self.digit, "type": self.type, "duration": self.duration, "time": self.at}


class ReceivedKeys:
    def __init__(self, kept: int = KEPT) -> None:
        self.recent: deque[ReceivedKey] = deque(maxlen=kept)
        self.total = 0
        self._waiters: list[tuple[int, str, asyncio.Future[str]]] = []
        self._buffer = ""  # keys since the oldest waiter started waiting

    def add(self, key: DtmfKey) -> ReceivedKey:
        got = ReceivedKey(key.digit, key.source, key.duration_ms, time.time())
        self.recent.append(got)
        self.total += 1
        if self._waiters:
            self._buffer += key.digit
            self._serve()
        return got

    def to_json(self) -> list[dict[str, Any]]:
        return [k.to_json() for k in self.recent]

    async def wait(self, count: int = 1, *, until: str = "", timeout: float | None = None) -> str:
        """The next ``count`` keys pressed from now on (or fewer, up to and including a key
        of ``until``, e.g. ``"#"``); TimeoutError after ``timeout`` seconds."""
        if count < 1:
            raise ValueError("count must be at least 1")
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if not self._waiters:
            self._buffer = ""
        self._waiters.append((count, until, future))
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        finally:
            self._waiters = [w for w in self._waiters if w[2] is not future]

    def cancel(self) -> None:
        """The call ended: whoever waits gets EOFError."""
        for _, _, future in self._waiters:
            if not future.done():
                future.set_exception(EOFError("the call ended"))
        self._waiters = []

    def _serve(self) -> None:
        # One sequence of keys is consumed by the oldest waiter, then the next one's turn.
        while self._waiters:
            count, until, future = self._waiters[0]
            cut = next((i + 1 for i, d in enumerate(self._buffer) if until and d in until), None)
            n = min(count, cut) if cut is not None else count
            if len(self._buffer) < n:
                return
            digits, self._buffer = self._buffer[:n], self._buffer[n:]
            self._waiters.pop(0)
            if not future.done():
                future.set_result(digits)
