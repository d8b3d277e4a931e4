"""Incoming calls from SIPp, a real SIP peer, through Kamailio (digest auth) to the server
registered as 1003 (issues 12 and 19):

- a farm of 50 calls at once, each carrying PCMU RTP from a pcap: all 50 are listed as
  incoming, publish their stream, end with the caller's BYE → FINISH, their streams are
  UNPUBLISHED, and the server is back to its idle sockets, tasks and gauges;
- DTMF by SIP INFO (``application/dtmf-relay`` and ``application/dtmf``), which baresip
  cannot send: each key once in the DTMFEvent hook, /call/find and /metrics;
- RFC 4733 from a caller that offers telephone-event on PT 100 or 126: each key once; our
  ``send_dtmf`` toward that call uses the offered PT (checked in a loopback capture).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import WcsFactory, WcsProcess
from tests.integration.inbound_helpers import Backend, register, wait_until
from tests.integration.playback import stream_entries
from tests.integration.sipp_helpers import (
    ended_events,
    media_ports,
    metrics,
    rtp_sent_to,
    udp_sockets,
)
from tests.peers.capture import Capture
from tests.peers.rtp_pcap import dtmf_events, one_stream, pcmu_tone

pytestmark = pytest.mark.peers

FARM = 50


def server_for(wcs: WcsFactory, backend: Backend, kamailio: Any, **settings: Any) -> WcsProcess:
    server = wcs(rest_hooks=f"testApp={backend.url}", **settings)
    register(server, kamailio, toStream="sipp-{callId}", hasVideo=False)
    return server


def incoming(server: WcsProcess) -> list[dict[str, Any]]:
    status, calls = server.rest("call/find_all")
    return [c for c in calls if c["incoming"]] if status == 200 else []


def gauge(samples: dict[str, float], name: str) -> float:
    """A gauge summed over its labels."""
    return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))


def live_streams(server: WcsProcess) -> dict[str, str]:
    return {s["name"]: s["status"] for s in stream_entries(server) if s["published"]}


def test_fifty_inbound_calls_at_once_publish_and_end_cleanly(
    kamailio: Any, wcs: WcsFactory, backend: Backend, sipp_caller: Any
) -> None:
    server = server_for(wcs, backend, kamailio, log_level="INFO", **media_ports(6 * FARM))
    # one call first: what lives as long as the server (the hook backend's sender task)
    # starts with the first call; the idle baseline is after it
    warm = sipp_caller("uac_pcap.xml", pcap=pcmu_tone(1.0), hold_ms=1000)
    assert warm.wait(60).successful == 1
    wait_until("no calls", lambda: not incoming(server), 30)
    idle = metrics(server)
    idle_udp = udp_sockets(server.proc.pid)
    run = sipp_caller("uac_pcap.xml", pcap=pcmu_tone(12.0), calls=FARM, rate=FARM, hold_ms=12000)

    # all 50 at once: listed as incoming and ESTABLISHED, each stream PUBLISHING
    def all_up() -> list[dict[str, Any]] | None:
        calls = incoming(server)
        up = [c for c in calls if c["status"] == "ESTABLISHED"]
        return calls if len(up) == FARM else None

    calls = wait_until(f"{FARM} established incoming calls", all_up, 60)
    assert all(c["incoming"] is True and c["caller"] == "1001" for c in calls)
    names = {c["streamName"] for c in calls}
    assert names == {f"sipp-{c['callId']}" for c in calls}

    def all_publishing() -> bool:
        live = live_streams(server)
        return all(live.get(n) == "PUBLISHING" for n in names)

    wait_until("every stream PUBLISHING", all_publishing, 30)
    # each stream receives the caller's RTP
    got = {s["name"]: s for s in stream_entries(server) if s["name"] in names}
    assert all(int(s.get("packetsReceived", 0)) > 0 for s in got.values()), got
    m = metrics(server)
    assert m['wcs_calls{status="ESTABLISHED"}'] == FARM
    result = run.wait(90)
    assert result.exit_code == 0, result.describe()
    assert result.successful == FARM and result.failed == 0, result.describe()
    ids = [c["callId"] for c in calls]
    for cid in ids:
        backend.wait_status(cid, "FINISH", 30)
        assert backend.statuses(cid) == ["ESTABLISHED", "FINISH"]
    wait_until("streams UNPUBLISHED", lambda: not names & set(live_streams(server)), 30)
    wait_until("no calls", lambda: not incoming(server), 30)

    def leftovers() -> dict[str, float]:
        m = metrics(server)
        now = {
            "calls": gauge(m, "wcs_calls"),
            "streams": gauge(m, "wcs_streams") - gauge(idle, "wcs_streams"),
            "tasks": m["wcs_asyncio_tasks"] - idle["wcs_asyncio_tasks"],
            "udp sockets": udp_sockets(server.proc.pid) - idle_udp,
        }
        return {k: v for k, v in now.items() if v > 0}

    try:
        wait_until("the idle sockets, tasks and gauges", lambda: not leftovers(), 30)
    except AssertionError:
        raise AssertionError(f"left over after the calls: {leftovers()}") from None
    assert metrics(server)['wcs_call_status_changes_total{status="FINISH"}'] >= FARM


def dtmf_hooks(backend: Backend, cid: str) -> list[dict[str, Any]]:
    return [e for e in backend.of("DTMFEvent") if e["callId"] == cid]


def wait_keys(server: WcsProcess, backend: Backend, count: int) -> tuple[str, list[Any]]:
    """The call's id and its DTMFEvent hooks once ``count`` arrived (the call still up)."""
    cid = wait_until("the incoming call", lambda: incoming(server), 30)[0]["callId"]
    wait_until(f"{count} DTMFEvent hooks", lambda: len(dtmf_hooks(backend, cid)) >= count, 30)
    return cid, dtmf_hooks(backend, cid)


def test_dtmf_by_sip_info_from_sipp(
    kamailio: Any, wcs: WcsFactory, backend: Backend, sipp_caller: Any
) -> None:
    server = server_for(wcs, backend, kamailio)
    run = sipp_caller("uac_info.xml", pcap=pcmu_tone(8.0), hold_ms=4000)
    cid, events = wait_keys(server, backend, 6)
    status, found = server.rest("call/find", {"callId": cid})
    assert status == 200 and found[0]["status"] == "ESTABLISHED"
    result = run.wait(60)
    assert result.exit_code == 0 and result.successful == 1, result.describe()
    infos = result.sent("INFO")
    assert len(infos) == 6
    backend.wait_status(cid, "FINISH")
    events = dtmf_hooks(backend, cid)  # none more after the call
    assert [(e["dtmf"], e["type"]) for e in events] == [
        ("1", "INFO"), ("9", "INFO"), ("#", "INFO"),
        ("4", "INFO_RELAY"), ("*", "INFO_RELAY"), ("0", "INFO_RELAY"),
    ]  # fmt: skip
    assert [e["duration"] for e in events[:3]] == [160, 160, 160]
    assert [k["dtmf"] for k in found[0]["dtmf"]] == list("19#4*0")
    m = metrics(server)
    assert m['wcs_dtmf_received_total{type="INFO"}'] == 3
    assert m['wcs_dtmf_received_total{type="INFO_RELAY"}'] == 3


@pytest.mark.parametrize("pt", [100, 126])
def test_rfc4733_on_the_offered_payload_type(
    kamailio: Any, wcs: WcsFactory, backend: Backend, sipp_caller: Any, tmp_path: Path, pt: int
) -> None:
    server = server_for(wcs, backend, kamailio)
    pcap = one_stream(pcmu_tone(10.0), dtmf_events("159#", pt, start=1.0))
    run = sipp_caller("uac_pcap.xml", pcap=pcap, te_pt=pt, hold_ms=10000)
    cid, _ = wait_keys(server, backend, 4)
    status, found = server.rest("call/find", {"callId": cid})
    assert status == 200 and [k["dtmf"] for k in found[0]["dtmf"]] == list("159#")
    path, port = tmp_path / "to-sipp.pcap", run.media_port
    capture = Capture(path, f"udp and dst port {port}", tmp_path / "dumpcap.log")
    try:
        assert server.rest("call/send_dtmf", {"callId": cid, "dtmf": "26*"}) == (200, None)
        # dumpcap writes each packet as it comes: wait for the third key's end packets
        wait_until("our three keys on the wire", lambda: ended_events(path, port, 0) >= 3, 20)
    finally:
        capture.stop()
    sent = events_in(path, port)
    result = run.wait(60)
    assert result.exit_code == 0 and result.successful == 1, result.describe()
    backend.wait_status(cid, "FINISH")
    events = dtmf_hooks(backend, cid)
    assert [(e["dtmf"], e["type"]) for e in events] == [(k, "RFC2833") for k in "159#"]
    assert all(e["duration"] > 0 for e in events)
    assert metrics(server)['wcs_dtmf_received_total{type="RFC2833"}'] == 4
    # what we sent toward the caller: telephone-events on its PT, one event per key
    assert {p for p, _, _ in sent} == {pt}, sent
    keys = [code for _, code, _ in sorted({(p, c, ts) for p, c, ts in sent}, key=lambda x: x[2])]
    assert keys == [2, 6, 10]


def events_in(path: Path, port: int) -> list[tuple[int, int, int]]:
    """(payload type, event code, RTP timestamp) of the RFC 4733 packets sent to ``port``:
    every RTP packet whose PT is not PCMU's 0 (the call's only other codec is the event)."""
    return [
        (p.pt, ev[0], p.ts)
        for p in rtp_sent_to(path, port)
        if p.pt != 0 and (ev := p.event) is not None
    ]
