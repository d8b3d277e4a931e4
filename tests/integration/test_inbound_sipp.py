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

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import WcsFactory, WcsProcess
from tests.integration.inbound_helpers import Backend, register, serve_backend, wait_until
from tests.integration.playback import stream_entries
from tests.integration.sipp_helpers import media_ports, metrics, sipp_caller, udp_sockets
from tests.peers.rtp_pcap import pcmu_tone

pytestmark = pytest.mark.peers

FARM = 50


@pytest.fixture
def backend() -> Iterator[Backend]:
    yield from serve_backend()


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
    kamailio: Any, wcs: WcsFactory, backend: Backend, tmp_path: Path
) -> None:
    server = server_for(wcs, backend, kamailio, log_level="INFO", **media_ports(6 * FARM))
    # one call first: what lives as long as the server (the hook backend's sender task)
    # starts with the first call; the idle baseline is after it
    warm = sipp_caller(tmp_path / "warm", kamailio, "uac_pcap.xml", pcap=pcmu_tone(1.0),
                       hold_ms=1000)  # fmt: skip
    assert warm.wait(60).successful == 1
    wait_until("no calls", lambda: not incoming(server), 30)
    idle = metrics(server)
    idle_udp = udp_sockets(server.proc.pid)
    run = sipp_caller(
        tmp_path / "sipp", kamailio, "uac_pcap.xml", pcap=pcmu_tone(12.0),
        calls=FARM, rate=FARM, hold_ms=12000,
    )  # fmt: skip
    try:
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
    finally:
        run.stop()
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
