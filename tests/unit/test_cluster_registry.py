"""The cluster registry's sans-IO rules: key layout, entries, staleness, timings, load."""

from __future__ import annotations

from wcs.cluster.registry import (
    CpuMeter,
    Entry,
    Keys,
    Load,
    NodeInfo,
    Timing,
    failed_view,
    least_loaded,
    stale,
)


def test_keys_layout() -> None:
    k = Keys("t")
    assert k.node("a:1") == "t:node:a:1"
    assert k.node_of_key(k.node("a:1")) == "a:1"
    assert k.table("call") == "t:calls"
    assert k.failed("stream", "s1") == "t:failed:stream:s1"
    assert k.rpc("n") != k.reply("n")


def test_node_info_round_trip() -> None:
    info = NodeInfo("n1", "both", "127.0.0.1", 31002, 8081, 1.5, Load(calls=2, cpu=12.5))
    back = NodeInfo.decode(info.encode())
    assert back == info
    assert back.can_originate
    assert not NodeInfo("e", "edge", "h", 1, 2, 0.0).can_originate


def test_entry_round_trip_and_junk() -> None:
    e = Entry("n1", {"callId": "c1", "status": "ESTABLISHED"}, 12.5)
    assert Entry.decode(e.encode()) == e
    assert Entry.decode(b"not json") is None
    assert Entry.decode(b'{"view": {}}') is None


def test_stale_is_what_has_no_heartbeat() -> None:
    entries = {"c1": Entry("a", {}), "c2": Entry("b", {}), "c3": Entry("a", {})}
    assert [k for k, _ in stale(entries, {"b": 1.0})] == ["c1", "c3"]
    assert stale(entries, {"a": 1.0, "b": 1.0}) == []


def test_entries_of_an_earlier_life_of_a_node_are_stale() -> None:
    entries = {"old": Entry("a", {}, epoch=1.0), "new": Entry("a", {}, 2.0), "x": Entry("a", {})}
    assert [k for k, _ in stale(entries, {"a": 2.0})] == ["old"]


def test_failed_view_keeps_the_owner() -> None:
    view = failed_view(Entry("a", {"callId": "c1", "status": "ESTABLISHED"}), "Node a failed")
    assert view == {"callId": "c1", "status": "FAILED", "info": "Node a failed", "nodeId": "a"}


def test_timing_detects_within_the_ttl() -> None:
    t = Timing(10.0)
    assert t.key_expiry_ms / 1000 + t.sweep_interval < t.ttl
    assert t.key_expiry_ms / 1000 > 2 * t.beat_interval  # one lost beat is not a death


def test_cpu_meter_and_least_loaded() -> None:
    m = CpuMeter(0.0, 0.0)
    assert m.read(2.0, 1.0) == 50.0
    assert m.read(2.0, 1.0) == 0.0
    nodes = [
        NodeInfo("busy", "both", "h", 1, 1, 0.0, Load(cpu=80)),
        NodeInfo("edge", "edge", "h", 1, 1, 0.0, Load(cpu=1)),
        NodeInfo("idle", "origin", "h", 1, 1, 0.0, Load(cpu=5)),
    ]
    best = least_loaded(nodes)
    assert best is not None and best.node_id == "idle"
