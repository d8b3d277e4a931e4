"""When a failed push tries again (pure: no clock, no sleeping; the caller waits)."""

from __future__ import annotations

from dataclasses import dataclass

MAX_DELAY_S = 60.0


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """``attempts`` retries after a failure, the first after ``backoff`` seconds, each next
    one twice as long (capped at ``max_delay``). A push that published again starts the
    count afresh. ``attempts`` 0: a failed push stays failed."""

    attempts: int = 0
    backoff: float = 2.0
    max_delay: float = MAX_DELAY_S

    def delay(self, failures: int) -> float | None:
        """Seconds to wait after the ``failures``-th consecutive failure (1-based), or None
        when no attempt is left."""
        if failures < 1 or failures > self.attempts:
            return None
        return float(min(self.max_delay, max(0.0, self.backoff) * 2 ** (failures - 1)))
