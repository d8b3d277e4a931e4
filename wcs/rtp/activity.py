"""RTP inactivity watch (sans-IO): no RTP for ``timeout`` seconds fails the call.

Suspended while the call is on hold (the peer stops sending on purpose); resuming restarts
the count, so the peer gets the full timeout to start sending again.
"""

from __future__ import annotations


class ActivityWatch:
    __slots__ = ("last", "suspended", "timeout")

    def __init__(self, timeout: float, now: float) -> None:
        self.timeout = timeout
        self.last = now
        self.suspended = False

    @property
    def enabled(self) -> bool:
        return self.timeout > 0

    def on_packet(self, now: float) -> None:
        self.last = now

    def suspend(self) -> None:
        self.suspended = True

    def resume(self, now: float) -> None:
        self.suspended = False
        self.last = now

    def expired(self, now: float) -> bool:
        return self.enabled and not self.suspended and now - self.last >= self.timeout

    def deadline(self) -> float | None:
        """When :meth:`expired` may next become true (None: never, as things stand)."""
        if not self.enabled or self.suspended:
            return None
        return self.last + self.timeout
