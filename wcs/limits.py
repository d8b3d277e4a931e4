"""Resource limits: admission by total and per source IP, per-IP token buckets, and the one
way a refusal is reported.

Every refusal goes through :func:`refuse`: it counts ``wcs_limit_rejections_total{limit}``
and writes at most one WARNING per limit per :data:`LOG_INTERVAL` seconds (with how many
were left unlogged), so a flood of refused clients never becomes a flood of log lines.
Every :class:`Quota` and :class:`RateLimit` shows its configured value in ``wcs_limit`` and
what is in use in ``wcs_limit_in_use`` (``/metrics``). A limit of 0 means unlimited.

No sockets and no clock of their own: callers pass ``now`` where time matters.
"""

from __future__ import annotations

import logging
import resource
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from wcs.observability.metrics import REGISTRY, Sample

log = logging.getLogger("wcs.limits")

LOG_INTERVAL = 10.0
REJECTIONS = REGISTRY.counter(
    "wcs_limit_rejections_total", "Connections, requests or messages refused by a limit", ("limit",)
)


@dataclass(slots=True)
class _LogState:
    last: float
    suppressed: int = 0


_logged: dict[str, _LogState] = {}


def refuse(limit: str, detail: str, *, clock: Callable[[], float] = time.monotonic) -> None:
    """Count a refusal by ``limit``; log it unless this limit was logged recently."""
    REJECTIONS.labels(limit).inc()
    now = clock()
    state = _logged.get(limit)
    if state is not None and now - state.last < LOG_INTERVAL:
        state.suppressed += 1
        return
    more = f" ({state.suppressed} more since the last report)" if state and state.suppressed else ""
    _logged[limit] = _LogState(now)
    log.warning("limit %s reached: %s%s", limit, detail, more)


class Quota:
    """At most ``total`` holders, at most ``per_key`` of them with the same key (an IP, or
    what ``key_kind`` names: the per-key limit is reported as ``<name>_per_<key_kind>``)."""

    def __init__(self, name: str, total: int, per_key: int = 0, key_kind: str = "ip") -> None:
        self.name = name
        self.total = total
        self.per_key = per_key
        self.per_key_name = f"{name}_per_{key_kind}"
        self.used = 0
        self._by_key: dict[str, int] = {}
        _register(self)

    def admit(self, key: str) -> bool:
        """Take one place for ``key``; False (refusal counted and reported) when full."""
        if self.total and self.used >= self.total:
            refuse(self.name, f"{self.used} in use (limit {self.total}); refused {key}")
            return False
        held = self._by_key.get(key, 0)
        if self.per_key and held >= self.per_key:
            refuse(self.per_key_name, f"{key} holds {held} (limit {self.per_key})")
            return False
        self.used += 1
        self._by_key[key] = held + 1
        return True

    def release(self, key: str) -> None:
        held = self._by_key.get(key, 0)
        if held <= 0:
            return
        self.used -= 1
        if held == 1:
            del self._by_key[key]
        else:
            self._by_key[key] = held - 1

    def held(self, key: str) -> int:
        return self._by_key.get(key, 0)

    def samples(self) -> Iterable[tuple[str, float, float]]:
        if self.total or not self.per_key:
            yield self.name, self.total, self.used
        busiest = max(self._by_key.values(), default=0)
        yield self.per_key_name, self.per_key, busiest


class RateLimit:
    """A token bucket per key: ``rate`` per second, bursts of ``burst``; 0 rate: unlimited.

    At most ``max_keys`` buckets are kept; the least recently used go first (a forgotten
    key starts with a full bucket, which only ever errs towards allowing)."""

    def __init__(self, name: str, rate: float, burst: int, max_keys: int = 10_000) -> None:
        self.name = name
        self.rate = rate
        self.burst = max(1, burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        _register(self)

    def allow(self, key: str, now: float) -> bool:
        if self.rate <= 0:
            return True
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if not allowed:
            refuse(self.name, f"{key} over {self.rate:g}/s")
        return allowed

    def retry_after(self) -> int:
        """Whole seconds until a refused client has a token again (for Retry-After)."""
        return max(1, int(1.0 / self.rate + 0.999)) if self.rate > 0 else 1

    def samples(self) -> Iterable[tuple[str, float, float]]:
        yield self.name, self.rate, len(self._buckets)


FD_RESERVE = 64  # descriptors kept for everything but connections (logs, pipes, media)
FD_LISTENERS = 4  # connection totals that share the rest: SIP TCP, HTTP, WS, spare


def fit_to_descriptors(name: str, total: int) -> int:
    """``total`` lowered to a fair share of RLIMIT_NOFILE, so that one kind of connection
    cannot take every file descriptor (and accept() elsewhere never sees EMFILE from it)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return total
    share = max(8, (soft - FD_RESERVE) // FD_LISTENERS)
    if total and total <= share:
        return total
    log.info("limit %s: %d (a share of the %d file descriptors allowed)", name, share, soft)
    return share


class Declared:
    """A limit enforced elsewhere (per WebSocket session…): only its value is shown."""

    def __init__(self, name: str, value: float) -> None:
        self.name = name
        self.value = value
        _register(self)

    def samples(self) -> Iterable[tuple[str, float, float]]:
        yield self.name, self.value, float("nan")


_limits: dict[str, Quota | RateLimit | Declared] = {}


def _register(limit: Quota | RateLimit | Declared) -> None:
    _limits[limit.name] = limit  # the newest of a name wins (tests build many servers)


def _collect(column: int) -> list[Sample]:
    out: list[Sample] = []
    for limit in list(_limits.values()):
        for row in limit.samples():
            if row[column] == row[column]:  # NaN: not tracked
                out.append(Sample((row[0],), float(row[column])))
    return sorted(out, key=lambda s: s.labels)


REGISTRY.collect(
    "wcs_limit",
    "Configured limits (0: unlimited); rates in per second",
    "gauge",
    lambda: _collect(1),
    ("limit",),
)
REGISTRY.collect(
    "wcs_limit_in_use",
    "What each limit counts now (per-IP limits: the busiest IP; rates: IPs tracked)",
    "gauge",
    lambda: _collect(2),
    ("limit",),
)

__all__ = [
    "LOG_INTERVAL",
    "REJECTIONS",
    "Declared",
    "Quota",
    "RateLimit",
    "fit_to_descriptors",
    "refuse",
]
