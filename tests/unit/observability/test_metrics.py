"""The Prometheus registry: its text output parses with prometheus_client's parser."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.ports import free_port
from wcs import __version__
from wcs.config import load_settings
from wcs.observability.loop_lag import LoopLagMonitor
from wcs.observability.metrics import DeltaTotals, Registry, Sample
from wcs.rest.auth import Authenticator
from wcs.rest.dispatch import Dispatcher
from wcs.rest.message import Request
from wcs.server import Server


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


# Every metric /metrics shows, with its kind and labels: renaming one breaks dashboards.
SERVER_METRICS = {
    "wcs_info": ("gauge", {"version"}),
    "wcs_uptime_seconds": ("gauge", set()),
    "wcs_calls": ("gauge", {"status"}),
    "wcs_call_status_changes_total": ("counter", {"status"}),
    "wcs_streams": ("gauge", {"status"}),
    "wcs_stream_subscribers": ("gauge", set()),
    "wcs_viewers": ("gauge", set()),
    "wcs_rtp_received_packets_total": ("counter", {"kind"}),
    "wcs_rtp_received_bytes_total": ("counter", {"kind"}),
    "wcs_rtp_lost_packets_total": ("counter", {"kind"}),
    "wcs_rtp_sent_packets_total": ("counter", {"kind"}),
    "wcs_rtp_sent_bytes_total": ("counter", {"kind"}),
    "wcs_webrtc_send_errors_total": ("counter", set()),
    "wcs_media_workers": ("gauge", set()),
    "wcs_media_worker_drops_total": ("counter", set()),
    "wcs_event_loop_lag_seconds": ("gauge", set()),
    "wcs_event_loop_lag_max_seconds": ("gauge", set()),
    "wcs_asyncio_tasks": ("gauge", set()),
    "wcs_pushes": ("gauge", {"status"}),
    "wcs_push_reconnects_total": ("counter", set()),
    "wcs_recordings": ("gauge", set()),
    "wcs_aac_stages": ("gauge", set()),
    "wcs_hls_outputs": ("gauge", set()),
    "wcs_hls_requests_total": ("counter", {"kind"}),
    "wcs_hls_hold_timeouts_total": ("counter", set()),
    "wcs_rtsp_clients": ("gauge", set()),
    "wcs_rtsp_dropped_clients_total": ("counter", set()),
    "wcs_demo_calls_total": ("counter", set()),
    "wcs_demo_sent_packets_total": ("counter", set()),
    "wcs_demo_sent_bytes_total": ("counter", set()),
    "wcs_sip_keepalive_probes_total": ("counter", set()),
    "wcs_sip_flow_reregistrations_total": ("counter", set()),
    "wcs_dtls_failures_total": ("counter", set()),
    "wcs_srtp_failures_total": ("counter", set()),
    "wcs_limit": ("gauge", {"limit"}),
    "wcs_limit_in_use": ("gauge", {"limit"}),
    "wcs_limit_rejections_total": ("counter", {"limit"}),
    "wcs_sip_malformed_messages_total": ("counter", set()),
}


def families_by_name(text: str) -> dict[str, tuple[str, list[Any]]]:
    """Family name as exposed (counters with their ``_total``) -> (type, samples)."""
    out: dict[str, tuple[str, list[Any]]] = {}
    for family in text_string_to_metric_families(text):
        name = family.name + ("_total" if family.type == "counter" else "")
        out[name] = (family.type, list(family.samples))
    return out


def test_server_metrics_names_kinds_and_labels(tmp_path: Path) -> None:
    """GET /metrics of a real (not started) Server, parsed with prometheus_client."""
    settings = load_settings(env={}, overrides={
        "bind_ip": "127.0.0.1", "public_ip": "127.0.0.1", "http_port": free_port(),
        "ws_port": free_port(), "hls_port": 0, "rtsp_port": 0, "sip_port": free_port(),
        "record_dir": str(tmp_path),
    })  # fmt: skip
    loop = asyncio.new_event_loop()
    try:

        async def scrape() -> tuple[int, str, str]:
            server = Server(settings)
            req = Request("GET", "/metrics")
            resp = await Dispatcher(server.router, Authenticator(None)).handle(req)
            return resp.status, resp.headers.get("content-type") or "", resp.body.decode()

        status, ctype, text = loop.run_until_complete(scrape())
    finally:
        loop.close()
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    found = families_by_name(text)
    for name, (kind, labels) in SERVER_METRICS.items():
        assert name in found, f"{name} missing from /metrics"
        assert found[name][0] == kind, name
        for sample in found[name][1]:
            assert set(sample.labels) == labels, (name, sample)
            if kind == "counter":
                assert sample.name == name
    assert found["wcs_info"][1][0].labels == {"version": __version__}
    limits = {s.labels["limit"]: s.value for s in found["wcs_limit"][1]}
    names = ("http_connections", "rest_requests", "sip_tcp_connections_per_ip")
    for name in (*names, "calls_per_app_key", "ws_viewers_per_session", "viewers_per_ip"):
        assert limits[name] > 0, limits  # the defaults are on and visible


def test_counters_must_end_with_total() -> None:
    with pytest.raises(ValueError):
        Registry().counter("wcs_calls_placed", "no _total suffix")
