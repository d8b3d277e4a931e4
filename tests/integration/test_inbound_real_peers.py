"""Incoming SIP calls against the real peers (issue 12): the server registers as 1003 at
Kamailio through REST, baresip 1001 dials 1003, and the call becomes a stream that an aiortc
viewer decodes; hang-ups from either side, ringing, CANCEL, rejects, the hook backend."""

from __future__ import annotations

import asyncio
import io
import json
import time
import urllib.request
from contextlib import redirect_stdout
from typing import Any

import pytest

from tests.integration.conftest import WcsFactory, WcsProcess
from tests.integration.inbound_helpers import (
    Backend,
    incoming_call,
    published,
    register,
    register_body,
    wait_until,
)
from tests.integration.playback import TONE_HZ, Viewer, stream_entries, whep_post
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback  # noqa: F401
from wcs.cli import main as cli_main

pytestmark = pytest.mark.peers


def start(wcs: WcsFactory, backend: Backend, **settings: Any) -> WcsProcess:
    return wcs(rest_hooks=f"testApp={backend.url}", **settings)


def registered(wcs: WcsFactory, backend: Backend, kamailio: Any, **dispatch: Any) -> WcsProcess:
    """A server registered as 1003 at ``kamailio`` with ``dispatch``."""
    server = start(wcs, backend)
    register(server, kamailio, **dispatch)
    return server


def unpublished(server: WcsProcess, name: str) -> bool:
    return all(not (s["name"] == name and s["published"]) for s in stream_entries(server))


@pytest.mark.asyncio
@pytest.mark.usefixtures("aiortc_on_loopback")
async def test_registered_account_receives_a_call_that_becomes_a_stream(
    kamailio: Any, caller: Any, wcs: WcsFactory, backend: Backend
) -> None:
    server = start(wcs, backend)
    await asyncio.to_thread(register, server, kamailio, toStream="door-{caller}")
    peer = caller(user="1001", tone_hz=TONE_HZ)
    result = peer.call_in_background("1003", hold_s=8, timeout_s=20)
    call = await asyncio.to_thread(incoming_call, server)
    cid = call["callId"]
    established = await asyncio.to_thread(backend.wait_status, cid, "ESTABLISHED")
    assert established["incoming"] is True
    assert (established["caller"], established["callee"]) == ("1001", "1003")
    assert established["streamName"] == "door-1001"
    await asyncio.to_thread(published, server, "door-1001")
    viewer = Viewer()
    try:
        status, body = await whep_post(server, "door-1001", viewer)
        assert status == 201, body
        await viewer.answer(body.decode())
        await viewer.wait()
        assert viewer.sizes and all(w > 0 for w, _ in viewer.sizes)
        hz = viewer.dominant_hz()
        assert abs(hz - TONE_HZ) <= 0.02 * TONE_HZ, hz
    finally:
        await viewer.close()
    res = await asyncio.to_thread(result.result, 40)
    assert res.established and res.rtp["audio"]["rx_packets"] > 0
    finished = await asyncio.to_thread(backend.wait_status, cid, "FINISH")
    assert finished["incoming"] is True
    await asyncio.to_thread(wait_until, "UNPUBLISHED", lambda: unpublished(server, "door-1001"))
    assert backend.statuses(cid) == ["ESTABLISHED", "FINISH"]


def test_terminate_of_an_incoming_call_sends_bye(
    kamailio: Any, caller: Any, wcs: WcsFactory, backend: Backend
) -> None:
    server = registered(wcs, backend, kamailio)
    result = caller(user="1001").call_in_background("1003", hold_s=60, timeout_s=20)
    cid = incoming_call(server)["callId"]
    backend.wait_status(cid, "ESTABLISHED")
    published(server, "1003-1001")  # the default template {callee}-{caller}
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli_main(["calls", "--server", server.base]) == 0
    row = next(line for line in out.getvalue().splitlines() if line.startswith(cid))
    assert row.split()[1:7] == ["ESTABLISHED", "200", "1003", "1001", "in", "1003-1001"]
    assert server.rest("call/terminate", {"callId": cid}) == (200, None)
    res = result.result(30)
    assert res.established and res.closed is not None  # baresip saw our BYE
    backend.wait_status(cid, "FINISH")
    wait_until("UNPUBLISHED", lambda: unpublished(server, "1003-1001"))


def test_ring_then_caller_cancels(
    kamailio: Any, caller: Any, wcs: WcsFactory, backend: Backend
) -> None:
    server = registered(wcs, backend, kamailio, answer="ring")
    result = caller(user="1001").call_in_background("1003", timeout_s=4)
    cid = incoming_call(server)["callId"]
    ring = backend.wait_status(cid, "RING")
    assert ring["incoming"] is True
    res = result.result(30)  # baresip gives up after 4 s: CANCEL
    assert res.ringing and not res.established
    finished = backend.wait_status(cid, "FINISH")
    assert finished["sipStatus"] == 487
    assert server.rest("call/find", {"callId": cid})[0] == 404


def test_ring_then_answer_reject_or_terminate(
    kamailio: Any, caller: Any, wcs: WcsFactory, backend: Backend
) -> None:
    server = registered(wcs, backend, kamailio, answer="ring")
    peer = caller(user="1001")
    result = peer.call_in_background("1003", hold_s=2, timeout_s=20)
    cid = incoming_call(server)["callId"]
    backend.wait_status(cid, "RING")
    assert server.rest("call/answer", {"callId": cid}) == (200, None)
    backend.wait_status(cid, "ESTABLISHED")
    assert result.result(30).established
    backend.wait_status(cid, "FINISH")
    # a second call, rejected with 486: the caller sees it
    result = peer.call_in_background("1003", timeout_s=20)
    cid2 = incoming_call(server)["callId"]  # the first one is gone from the list
    assert cid2 != cid
    backend.wait_status(cid2, "RING")
    assert server.rest("call/reject", {"callId": cid2, "status": 486}) == (200, None)
    res = result.result(30)
    assert not res.established and res.status == 486, res.closed
    assert backend.wait_status(cid2, "FINISH")["sipStatus"] == 486
    assert server.rest("call/answer", {"callId": cid2})[0] == 404
    # a third one, terminated while it rings: 603 Decline, FINISH
    result = peer.call_in_background("1003", timeout_s=20)
    cid3 = incoming_call(server)["callId"]
    backend.wait_status(cid3, "RING")
    assert server.rest("call/terminate", {"callId": cid3}) == (200, None)
    res = result.result(30)
    assert not res.established and res.status == 603, res.closed
    assert backend.wait_status(cid3, "FINISH")["sipStatus"] == 603


@pytest.mark.parametrize(
    ("verdict", "delay", "established", "status"),
    [
        ({"answer": "accept", "toStream": "from-hook"}, 0.0, True, None),
        ({"answer": "reject", "status": 480}, 0.0, False, 480),
        ({"answer": "accept"}, 4.0, False, 603),  # too late: hookDefault reject
    ],
    ids=["accept", "reject", "timeout"],
)
def test_hook_decides(
    kamailio: Any,
    caller: Any,
    wcs: WcsFactory,
    backend: Backend,
    verdict: dict[str, Any],
    delay: float,
    established: bool,
    status: int | None,
) -> None:
    backend.verdict, backend.delay = verdict, delay
    registered(wcs, backend, kamailio, answer="hook", hookTimeout=2)
    result = caller(user="1001").call_in_background("1003", hold_s=2, timeout_s=20)
    res = result.result(40)
    (asked,) = backend.of("IncomingCallEvent")
    assert asked["incoming"] is True and asked["caller"] == "1001"
    cid = asked["callId"]
    assert res.established is established, res.closed
    final = backend.wait_status(cid, "FINISH")
    if established:
        assert "ESTABLISHED" in backend.statuses(cid)
        assert backend.wait_status(cid, "ESTABLISHED")["streamName"] == "from-hook"
    else:
        assert res.status == status and final["sipStatus"] == status


def test_wrong_password_fails_without_a_tight_loop(
    kamailio: Any, wcs: WcsFactory, backend: Backend
) -> None:
    server = start(wcs, backend, sip_register_retry=2, sip_register_retry_max=4)
    body = {
        "registrationId": "bad",
        "sipLogin": "1099",
        "sipPassword": "secret1099",
        "sipDomain": kamailio.realm,
        "sipOutboundProxy": kamailio.host,
        "sipPort": kamailio.port,
    }
    assert server.rest("sip/register", body)[0] == 200

    def failed() -> dict[str, Any] | None:
        status, found = server.rest("sip/find", {"registrationId": "bad"})
        return found[0] if status == 200 and found[0]["status"] == "FAILED" else None

    reg = wait_until("FAILED", failed)
    assert reg["info"] and reg["lastSipStatus"] in (401, 403)
    assert "secret1099" not in server.log()  # the password is never logged
    # retries after 2 s, then 4 s, 4 s...: within 7 s at most 3 attempts, never a loop
    wait_until("a retry", lambda: server.rest("sip/find", {"registrationId": "bad"})[1][0]
               ["attempts"] >= 2, timeout=10)  # fmt: skip
    time.sleep(5)
    attempts = server.rest("sip/find", {"registrationId": "bad"})[1][0]["attempts"]
    assert 2 <= attempts <= 4, attempts
    registers = sum(
        1 for line in server.log().splitlines() if "SIP out to" in line and "REGISTER sip:" in line
    )
    assert 2 <= registers <= 2 * attempts, registers  # each attempt: REGISTER + its auth retry
    assert server.rest("sip/unregister", {"registrationId": "bad"}) == (200, None)
    assert server.rest("sip/find_all")[0] == 404


def test_registration_comes_back_after_kamailio_restarts(
    kamailio_factory: Any, caller: Any, wcs: WcsFactory, backend: Backend
) -> None:
    kam = kamailio_factory()
    server = start(wcs, backend, sip_register_retry=1, sip_register_retry_max=2)
    register(server, kam, expires=40)  # refreshed every 8 s
    kam.stop()
    fresh = kamailio_factory(port=kam.port)  # an empty location table
    assert not fresh.registered("1003")
    wait_until("the binding in the restarted Kamailio", lambda: fresh.registered("1003"), 40)
    result = caller(user="1001", kamailio=fresh).call_in_background("1003", hold_s=1)
    cid = incoming_call(server)["callId"]
    backend.wait_status(cid, "ESTABLISHED")
    assert result.result(30).established


def test_tcp_registration_comes_back_when_its_flow_dies(
    kamailio_factory: Any, caller: Any, wcs: WcsFactory, backend: Backend
) -> None:
    """Over TCP the binding lives on our connection: Kamailio restarted (an empty location
    table) closes it, and the server registers again at once, long before the refresh
    (expires 600: the refresh is 300 s away), with the backoff while Kamailio is down."""
    kam = kamailio_factory()
    server = start(wcs, backend, sip_register_retry=1, sip_register_retry_max=2)
    reg_id = register(server, kam, sipTransport="TCP", expires=600)
    kam.stop()
    fresh = kamailio_factory(port=kam.port)
    assert not fresh.registered("1003")
    wait_until("the binding in the restarted Kamailio", lambda: fresh.registered("1003"), 30)
    status, found = server.rest("sip/find", {"registrationId": reg_id})
    assert status == 200 and found[0]["status"] == "REGISTERED"
    with urllib.request.urlopen(f"{server.base}/metrics", timeout=5) as resp:
        metrics = resp.read().decode()
    count = next(ln for ln in metrics.splitlines()
                 if ln.startswith("wcs_sip_flow_reregistrations_total "))  # fmt: skip
    assert float(count.split()[1]) >= 1
    result = caller(user="1001", kamailio=fresh).call_in_background("1003", hold_s=1)
    cid = incoming_call(server)["callId"]
    backend.wait_status(cid, "ESTABLISHED")
    assert result.result(30).established


def test_registration_from_the_config_starts_with_the_server(
    kamailio: Any, caller: Any, wcs: WcsFactory, backend: Backend
) -> None:
    table = register_body(kamailio, registrationId="cfg", toStream="cfg-{caller}")
    server = start(wcs, backend, sip_registration=json.dumps([table]))
    wait_until("the binding in Kamailio", lambda: kamailio.registered("1003"))
    status, found = server.rest("sip/find", {"registrationId": "cfg"})
    assert status == 200 and found[0]["status"] == "REGISTERED"
    assert "secret1003" not in json.dumps(found) and "secret1003" not in server.log()
    result = caller(user="1001").call_in_background("1003", hold_s=1)
    published(server, "cfg-1001")
    assert result.result(30).established
    assert server.rest("sip/unregister", {"registrationId": "cfg"}) == (200, None)
    wait_until("the binding removed", lambda: not kamailio.registered("1003"))


def test_stream_name_collision_gets_a_suffix(
    kamailio: Any, caller: Any, wcs: WcsFactory, backend: Backend
) -> None:
    server = registered(wcs, backend, kamailio, toStream="door")
    first = caller(user="1001").call_in_background("1003", hold_s=10)
    published(server, "door")
    second = caller(user="1002").call_in_background("1003", hold_s=2)
    published(server, "door-2")  # the first call still publishes "door"

    def established() -> set[str]:
        events = backend.of("CallStatusEvent")
        return {e["streamName"] for e in events if e["status"] == "ESTABLISHED"}

    # the stream is published with our 200, the ESTABLISHED hook follows the ACK: wait for it
    wait_until("both calls ESTABLISHED", lambda: len(established()) >= 2)
    assert established() == {"door", "door-2"}
    assert second.result(30).established and first.result(30).established
