"""When a push asks its source for a keyframe (pure; the clock is the stream's media pts).

RTMP targets start a joining player's video at the next keyframe (nginx-rtmp does), and CDNs
want one every few seconds (YouTube: at most 4 s), while SIP endpoints often send them far
apart. With an interval set, a push asks the source (PLI/FIR/SIP INFO, rate-limited by the
stream's publisher) when no keyframe came for that long, and again each interval after.
"""

from __future__ import annotations


class KeyframePacer:
    def __init__(self, interval_ms: float) -> None:
        self.interval_ms = interval_ms
        self.requests = 0
        self._last: float | None = None  # pts of the last keyframe or request

    def on_frame(self, pts_ms: float, keyframe: bool) -> bool:
        """Feed each access unit; True when a keyframe should be requested now."""
        if self.interval_ms <= 0:
            return False
        if keyframe or self._last is None or pts_ms < self._last:
            self._last = pts_ms  # (a step back is a source reset: count from here)
            return False
        if pts_ms - self._last >= self.interval_ms:
            self._last = pts_ms
            self.requests += 1
            return True
        return False
