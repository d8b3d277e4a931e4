"""The calls saturation run's verdict and report, and the farm's control line protocol.

Run: python3 -m pytest -q bench/tests/test_calls_saturation.py
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bench.calls_saturation import (
    BEGIN,
    END,
    FarmCtl,
    markdown,
    reasons,
    summarize,
    verdict,
    write_section,
)


def _point(calls: int, cpu: float, loss: float = 0.0, **kw: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "calls": calls,
        "publishing": calls,
        "cpu_pct": cpu,
        "cpu_pct_per_call": cpu / calls,
        "loss_pct": loss,
        "rss_per_call_kb": 300.0,
        "received_pps": calls * 100,
        "received_per_sent": 1.0,
        "server_core_busy_pct": cpu,
        "expected_pps": calls * 100,
        "cpu_us_per_packet": 50.0,
        "farm_cpu_pct": [20.0],
        "farm_sent_pps": calls * 100,
        "farm_late_max_ms": 5.0,
        "farm_lag_p99_ms": 2.0,
        "steal_pct": 0.0,
        "machine_busy_pct": 60.0,
        "failed": [],
    }
    p.update(kw)
    p["not_counted"] = reasons(p, 100.0)
    return p


def test_stopped_by_cpu_interpolates_at_the_budget() -> None:
    v = verdict([_point(100, 60.0), _point(150, 90.0), _point(200, 110.0)], 100.0)
    assert v["calls"] == 150
    assert v["calls_at_budget_interpolated"] == 175.0  # 90 % → 110 %: 100 % half-way
    assert v["stopped_by"].startswith("CPU 110.0 %")
    assert not v["farm_limited"]


def test_stopped_by_loss_is_not_interpolated() -> None:
    v = verdict([_point(100, 60.0), _point(150, 99.0, loss=0.5)], 100.0)
    assert v["calls"] == 100
    assert v["calls_at_budget_interpolated"] is None
    assert v["stopped_by"] == "loss 0.5 %"


def test_a_late_farm_stops_the_run_and_is_named() -> None:
    late = _point(150, 70.0, farm_sent_pps=14000, farm_late_max_ms=250.0)
    v = verdict([_point(100, 50.0), late], 100.0)
    assert v["calls"] == 100 and v["farm_limited"]
    assert "callee farm saturated" in v["stopped_by"]
    bursty = _point(150, 70.0, farm_lag_p99_ms=120.0)  # in time on average, but in bursts
    assert verdict([_point(100, 50.0), bursty], 100.0)["farm_limited"]


def test_unpublished_or_failed_calls_do_not_count() -> None:
    assert reasons(_point(100, 50.0, publishing=98), 100.0) == ["2 calls not publishing"]
    failed = _point(100, 50.0, failed=["k7: 503 busy"])
    assert reasons(failed, 100.0) == ["calls failed: k7: 503 busy (1)"]
    assert verdict([failed], 100.0)["calls"] == 0


def test_a_server_behind_does_not_count_and_a_starved_one_is_named() -> None:
    behind = _point(200, 99.0, received_per_sent=0.9)
    assert reasons(behind, 100.0) == ["server not keeping up: received 0.9 x what the farm sent"]
    catching_up = _point(200, 99.0, received_per_sent=1.2)
    assert reasons(catching_up, 100.0)[0].startswith("server not keeping up")
    # others on the server's CPU: named when a step fails, harmless when it doesn't
    starved = _point(200, 50.0, server_core_busy_pct=99.0, loss_pct=0.5)
    assert reasons(starved, 100.0) == [
        "loss 0.5 %",
        "server starved: its CPU 99.0 % busy, 50.0 % of it the server",
    ]
    assert reasons(_point(200, 50.0, server_core_busy_pct=99.0), 100.0) == []


def test_markdown_section_replaces_only_its_own(tmp_path: Path) -> None:
    runs = {
        "kamailio": [
            {
                **verdict([_point(100, 60.0), _point(150, 120.0)], 100.0),
                "points": [_point(100, 60.0), _point(150, 120.0)],
                "hangup": {"ok": True},
                "repeat": 1,
                "trace_pps": 99.4,
            }
        ]
    }
    res = {
        "runs": runs,
        "summary": summarize(runs),
        "started": "2026-12-03 15:00 UTC",
        "nproc": 2,
        "command": ["python", "-m", "bench.calls_saturation"],
        "settings": {
            "server_cpus": [0],
            "other_cpus": [1],
            "farms": 1,
            "step": 50,
            "start": 100,
            "in_flight": 16,
            "warmup": 3.0,
            "window": 8.0,
            "budget": 100.0,
            "repeats": 1,
            "trace": "recorded",
        },
    }
    text = markdown(res)
    assert "## Calls per core at saturation (issue 17)" in text
    assert "sends the recorded trace (H.264 + PCMU, 99 packets/s)" in text
    assert "| kamailio | **100** [100, 100] | **133.3** [133.3, 133.3] |" in text
    path = tmp_path / "RESULTS.md"
    path.write_text(f"# R\n\nbefore\n\n{BEGIN}\nold\n{END}\n\nafter\n")
    write_section(text, path)
    new = path.read_text()
    assert "before" in new and "after" in new and "old" not in new
    assert new.count(BEGIN) == 1 and new.count(END) == 1


def test_farm_answers_stats_and_quits() -> None:
    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        farm = await FarmCtl.start("recorded")
        try:
            return farm.info, await farm.stats()
        finally:
            await farm.stop()
            assert farm.proc.returncode == 0
            assert farm.final["invites"] == 0 and farm.final["invites_from"] == {}

    info, stats = asyncio.run(go())
    assert info["sip_port"] > 0 and info["trace_pps"] > 50
    assert stats["established"] == 0 and stats["sent"] == 0
