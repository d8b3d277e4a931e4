"""Prometheus metrics: a small registry exported through ``prometheus_client``.

Two kinds of metric:

- **owned** ones, :class:`Counter` and :class:`Gauge`, which code updates as things happen.
  For the hot path take a child once (``c = REGISTRY.counter(...).labels("video")``) and
  call ``c.inc()``: one attribute add, no lookup, no lock (asyncio is single-threaded; a
  worker thread may add too, a lost increment under a race is acceptable for metrics);
- **collected** ones, :meth:`Registry.collect`: a function called at scrape time that reads
  state the parts already keep (calls by status, live streams), so nothing is counted twice.

:class:`DeltaTotals` turns per-object cumulative counts (a stream's packets) into totals
that survive the object: at each scrape it adds what each live object gained since the last
one. Counts an object gained between the last scrape and its end are not seen; counters
stay monotonic.

The text exposition (format 0.0.4) is ``prometheus_client``'s: :meth:`Registry.render` runs
one prometheus_client collector over every metric and ``generate_latest`` writes it, so
escaping and number formatting are the reference ones. The owned metrics keep their own
lock-free children (``prometheus_client.Counter.inc`` takes a lock per call, too much for
per-packet counting in the media workers).

``REGISTRY`` is the process-wide registry that every part may use; the server renders it at
``GET /metrics``. Names follow Prometheus conventions: ``wcs_`` prefix, ``_total`` for
counters, base units (seconds, bytes).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

Labels = tuple[str, ...]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of a collected metric; ``labels`` pairs with the metric's label names."""

    labels: Labels
    value: float


class _Child:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def set(self, value: float) -> None:
        self.value = value


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        _check_name(name, self.kind)
        for label in labelnames:
            _check_name(label)
        self.name = name
        self.help = help
        self.labelnames = tuple(labelnames)
        self._children: dict[Labels, _Child] = {}
        self._lock = threading.Lock()
        if not self.labelnames:
            self._children[()] = _Child()

    def labels(self, *values: str) -> _Child:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {values}")
        key = tuple(str(v) for v in values)
        child = self._children.get(key)
        if child is None:
            with self._lock:
                child = self._children.setdefault(key, _Child())
        return child

    @property
    def value(self) -> float:
        """The value of an unlabelled metric."""
        return self.labels().value

    def samples(self) -> list[Sample]:
        return [Sample(k, c.value) for k, c in list(self._children.items())]


class Counter(_Metric):
    kind = "counter"

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        self.labels().inc(amount)


class Gauge(_Metric):
    kind = "gauge"

    def inc(self, amount: float = 1.0) -> None:
        self.labels().inc(amount)

    def set(self, value: float) -> None:
        self.labels().set(value)


_M = TypeVar("_M", bound=_Metric)


@dataclass(slots=True)
class _Collected:
    name: str
    help: str
    kind: str
    labelnames: Labels
    fn: Callable[[], Iterable[Sample]]

    def samples(self) -> list[Sample]:
        return list(self.fn())


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, _Metric | _Collected] = {}
        self._lock = threading.Lock()

    def counter(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Counter:
        """The counter ``name``, created on first use (the same object on later calls)."""
        return self._owned(Counter, name, help, labelnames)

    def gauge(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Gauge:
        return self._owned(Gauge, name, help, labelnames)

    def _owned(self, cls: type[_M], name: str, help: str, labelnames: Sequence[str]) -> _M:
        with self._lock:
            existing = self._metrics.get(name)
            if existing is None:
                metric = cls(name, help, labelnames)
                self._metrics[name] = metric
                return metric
        if not isinstance(existing, cls) or existing.labelnames != tuple(labelnames):
            raise ValueError(f"metric {name!r} already registered differently")
        return existing

    def collect(
        self,
        name: str,
        help: str,
        kind: str,
        fn: Callable[[], Iterable[Sample]],
        labelnames: Sequence[str] = (),
    ) -> None:
        """Register (or replace) a metric whose samples ``fn`` returns at scrape time."""
        if kind not in ("counter", "gauge"):
            raise ValueError("kind is counter or gauge")
        _check_name(name, kind)
        with self._lock:
            self._metrics[name] = _Collected(name, help, kind, tuple(labelnames), fn)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._metrics.pop(name, None)

    def get(self, name: str) -> _Metric | None:
        metric = self._metrics.get(name)
        return metric if isinstance(metric, _Metric) else None

    def render(self) -> str:
        """The text exposition of every metric; a failing collector is skipped, not fatal."""
        exporter = CollectorRegistry(auto_describe=False)
        exporter.register(_Exporter(self))
        return generate_latest(exporter).decode()

    def families(self) -> Iterator[Metric]:
        """Every metric as a prometheus_client family, sorted by name."""
        with self._lock:
            metrics = sorted(self._metrics.values(), key=lambda m: m.name)
        for m in metrics:
            try:
                samples = m.samples()
            except Exception:  # a collector must never break the scrape of the others
                samples = []
            family: Metric
            if m.kind == "counter":
                family = CounterMetricFamily(m.name, m.help, labels=m.labelnames)
            else:
                family = GaugeMetricFamily(m.name, m.help, labels=m.labelnames)
            for sample in samples:
                family.add_metric(list(sample.labels), sample.value)
            yield family


class _Exporter:
    """The prometheus_client collector of a :class:`Registry` (read at every scrape)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        return self.registry.families()


class DeltaTotals:
    """Monotonic totals from the cumulative counts of objects that come and go."""

    def __init__(self) -> None:
        self._last: dict[Hashable, float] = {}
        self.totals: dict[Labels, float] = {}

    def update(self, current: Mapping[tuple[Hashable, Labels], float]) -> dict[Labels, float]:
        """``current`` maps (object key, labels) to that object's count now."""
        seen: dict[Hashable, float] = {}
        for (key, labels), value in current.items():
            previous = self._last.get((key, labels), 0.0)
            gained = value - previous if value >= previous else value  # a reset: count anew
            self.totals[labels] = self.totals.get(labels, 0.0) + gained
            seen[(key, labels)] = value
        self._last = seen
        return dict(self.totals)


def _check_name(name: str, kind: str = "") -> None:
    ok = name and (name[0].isalpha() or name[0] in "_:")
    if not ok or not all(c.isalnum() or c in "_:" for c in name) or not name.isascii():
        raise ValueError(f"bad metric or label name {name!r}")
    if kind == "counter" and not name.endswith("_total"):
        # prometheus_client names a counter's sample <name>_total: keep the name as given.
        raise ValueError(f"counter {name!r} must end with _total")


REGISTRY = Registry()

# Counters the WebRTC side owns; defined here so /metrics always shows them (at 0 until
# that code counts): metrics.DTLS_FAILURES.inc() when a handshake fails, and so on.
DTLS_FAILURES = REGISTRY.counter(
    "wcs_dtls_failures_total", "DTLS handshakes that failed or timed out"
)
SRTP_FAILURES = REGISTRY.counter(
    "wcs_srtp_failures_total", "SRTP/SRTCP packets that failed to protect or unprotect"
)

__all__ = [
    "CONTENT_TYPE",
    "DTLS_FAILURES",
    "REGISTRY",
    "SRTP_FAILURES",
    "Counter",
    "DeltaTotals",
    "Gauge",
    "Registry",
    "Sample",
]
