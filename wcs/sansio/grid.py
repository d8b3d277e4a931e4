"""A shared grid for deadlines that need not be exact.

Hundreds of cores each arming their own timer wake the process hundreds of times, even
when each fires rarely. A deadline that tolerates a little lateness (a consent check, an
RTCP report, a liveness timeout) is rounded *up* to the grid of the monotonic clock, so the
deadlines of every core land on the same instants and the event loop serves them all in one
iteration (asyncio pops every timer that is due when it wakes). Urgent deadlines (DTLS
retransmissions, 20 ms audio slots) are not rounded.
"""

from __future__ import annotations

import math

GRID = 1.0  # seconds: RFC 7675 consent (4-6 s) and RFC 3550 RTCP intervals allow this jitter


def on_grid(when: float, step: float = GRID) -> float:
    """``when`` rounded up to the next multiple of ``step``."""
    return math.ceil(when / step) * step
