"""The Prometheus registry: its text output parses with prometheus_client's parser."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from wcs.observability.loop_lag import LoopLagMonitor
from wcs.observability.metrics import DeltaTotals, Registry, Sample


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_owned_and_collected_metrics_parse() -> None:
    r = Registry()
    calls = r.counter("wcs_test_calls_total", "Calls\nwith a newline \\ and backslash", ["status"])
    calls.labels("FINISH").inc()
    calls.labels("FINISH").inc(2)
    calls.labels('we"ird\\\n').inc()
    g = r.gauge("wcs_test_lag_seconds", "Lag")
    g.set(0.125)
    r.collect("wcs_test_streams", "Streams", "gauge",
              lambda: [Sample(("PUBLISHING",), 3)], ["status"])  # fmt: skip
    r.collect("wcs_test_inf", "Inf", "gauge", lambda: [Sample((), math.inf)])
    text = r.render()
    samples = parse(text)
    assert samples["wcs_test_calls_total"][(("status", "FINISH"),)] == 3
    assert samples["wcs_test_calls_total"][(("status", 'we"ird\\\n'),)] == 1
    assert samples["wcs_test_lag_seconds"][()] == 0.125
    assert samples["wcs_test_streams"][(("status", "PUBLISHING"),)] == 3
    assert samples["wcs_test_inf"][()] == math.inf
    assert "# TYPE wcs_test_calls_total counter" in text


def test_registry_returns_the_same_metric_and_refuses_conflicts() -> None:
    r = Registry()
    a = r.counter("wcs_x_total", "x")
    assert r.counter("wcs_x_total", "x") is a
    with pytest.raises(ValueError):
        r.gauge("wcs_x_total", "x")
    with pytest.raises(ValueError):
        r.counter("bad name", "x")
    with pytest.raises(ValueError):
        a.inc(-1)
    with pytest.raises(ValueError):
        r.counter("wcs_y_total", "y", ["kind"]).labels("a", "b")


def test_failing_collector_does_not_break_the_scrape() -> None:
    r = Registry()
    r.counter("wcs_ok_total", "ok").inc()

    def broken() -> list[Sample]:
        raise RuntimeError("boom")

    r.collect("wcs_broken", "broken", "gauge", broken)
    assert parse(r.render())["wcs_ok_total"][()] == 1


def test_delta_totals_survive_objects_and_stay_monotonic() -> None:
    d = DeltaTotals()
    assert d.update({("s1", ("audio",)): 10})[("audio",)] == 10
    assert d.update({("s1", ("audio",)): 15, ("s2", ("audio",)): 5})[("audio",)] == 20
    # s1 is gone: its 15 stay counted.
    assert d.update({("s2", ("audio",)): 7})[("audio",)] == 22
    # A new object under an old key starting from 0 counts anew, never backwards.
    assert d.update({("s2", ("audio",)): 3})[("audio",)] == 25


def test_loop_lag_records_last_and_max() -> None:
    m = LoopLagMonitor()
    m.record(0.01)
    m.record(0.2)
    m.record(-0.001)  # clock noise: never negative
    assert (m.last, m.max, m.count) == (0.0, 0.2, 3)
