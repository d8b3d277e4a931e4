"""/metrics during a real call (Kamailio + baresip): the text parses with prometheus_client's
parser and the counters move -- call statuses, RTP packets and bytes received."""

from __future__ import annotations

import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import HookCollector, WcsFactory, WcsProcess
from tests.integration.test_calls_real_peers import call_body, new_id, start, wait_gone
from tests.unit.observability.test_metrics import SERVER_METRICS, families_by_name

pytestmark = pytest.mark.peers

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape_text(server: WcsProcess) -> str:
    with urllib.request.urlopen(f"{server.base}/metrics", timeout=5) as resp:
        assert resp.headers["content-type"].startswith("text/plain")
        return resp.read().decode()


def scrape(server: WcsProcess) -> Samples:
    text = scrape_text(server)
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_during_a_real_call(kamailio, callee, wcs: WcsFactory,
                                         hooks: HookCollector) -> None:  # fmt: skip
    peer = callee(media="av")
    server = start(wcs, hooks, demo_callee="false")
    before = scrape(server)
    assert value(before, "wcs_calls", status="ESTABLISHED") == 0
    cid = new_id()
    assert server.rest("call/startup", call_body(kamailio, cid, peer.user))[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    first = scrape(server)
    # Every metric is there under its name, kind and labels (parsed by prometheus_client).
    found = families_by_name(scrape_text(server))
    for name, (kind, labels) in SERVER_METRICS.items():
        assert name in found and found[name][0] == kind, name
        assert all(set(s.labels) == labels for s in found[name][1]), name
    assert value(first, "wcs_calls", status="ESTABLISHED") == 1
    assert value(first, "wcs_streams", status="PUBLISHING") == 1
    assert value(first, "wcs_call_status_changes_total", status="ESTABLISHED") == (
        value(before, "wcs_call_status_changes_total", status="ESTABLISHED") + 1
    )
    # Media flows: the received counters grow between two scrapes of the same call.
    deadline = time.monotonic() + 15
    second = first
    while time.monotonic() < deadline:
        time.sleep(0.5)
        second = scrape(server)
        if all(value(second, "wcs_rtp_received_packets_total", kind=k)
               > value(first, "wcs_rtp_received_packets_total", kind=k) + 10
               for k in ("audio", "video")):  # fmt: skip
            break
    for kind in ("audio", "video"):
        assert (
            value(second, "wcs_rtp_received_packets_total", kind=kind)
            > value(first, "wcs_rtp_received_packets_total", kind=kind) + 10
        ), kind
        assert value(second, "wcs_rtp_received_bytes_total", kind=kind) > value(
            first, "wcs_rtp_received_bytes_total", kind=kind
        ), kind
    assert value(second, "wcs_event_loop_lag_max_seconds") >= 0
    assert server.rest("call/terminate", {"callId": cid})[0] == 200
    hooks.wait_status(cid, "FINISH")
    wait_gone(server, cid)
    after = scrape(server)
    assert value(after, "wcs_calls", status="ESTABLISHED") == 0
    assert value(after, "wcs_call_status_changes_total", status="FINISH") == (
        value(before, "wcs_call_status_changes_total", status="FINISH") + 1
    )
    # Counters never go back: the ended stream's packets stay counted.
    for kind in ("audio", "video"):
        assert value(after, "wcs_rtp_received_packets_total", kind=kind) >= value(
            second, "wcs_rtp_received_packets_total", kind=kind
        )
