"""REST-driven SIP calls against the real peers: Kamailio (registrar/proxy, digest auth) and
baresip (callee). Statuses are observed the way a WCS backend sees them: REST hooks
(CallStatusEvent) and /call/find polling."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import pytest

from tests.integration.conftest import PASSWORD_1001, HookCollector, WcsFactory, WcsProcess
from tests.integration.conftest import call_body as base_call_body

pytestmark = pytest.mark.peers


def call_body(kamailio: Any, call_id: str, callee: str, **extra: Any) -> dict[str, Any]:
    return base_call_body(kamailio, call_id, callee, **{"toStream": f"stream_{call_id}", **extra})


def active_calls(peer: Any) -> int:
    """How many calls baresip lists (its ctrl_tcp ``listcalls`` reply)."""
    text = peer.listcalls()
    m = re.search(r"Active calls \((\d+)\)", text)
    return int(m.group(1)) if m else 0


def new_id() -> str:
    return "c" + secrets.token_hex(6)


def start(wcs: WcsFactory, hooks: HookCollector, **settings: Any) -> WcsProcess:
    return wcs(rest_hooks=f"testApp={hooks.url}", **settings)


def wait_gone(server: WcsProcess, call_id: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _ = server.rest("call/find", {"callId": call_id})
        if status == 404:
            return
        time.sleep(0.1)
    raise AssertionError(f"call {call_id} still listed after {timeout}s")


def test_register_call_established_then_callee_hangs_up(kamailio, callee, wcs, hooks) -> None:
    peer = callee()
    server = start(wcs, hooks)
    cid = new_id()
    status, body = server.rest(
        "call/startup", call_body(kamailio, cid, peer.user, sipRegisterRequired="true")
    )
    assert (status, body) == (200, None)
    established = hooks.wait_status(cid, "ESTABLISHED")
    assert established["sipStatus"] == 200
    assert established["callee"] == peer.user
    # While the call lasts, /call/find shows it; the registration is in Kamailio.
    status, found = server.rest("call/find", {"callId": cid})
    assert status == 200 and found[0]["status"] == "ESTABLISHED"
    assert kamailio.registered("1001")
    peer.hangup()
    finish = hooks.wait_status(cid, "FINISH")
    assert finish["info"] == "Normal call clearing"
    wait_gone(server, cid)
    # The binding is removed when the call ends.
    deadline = time.monotonic() + 10
    while kamailio.registered("1001") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not kamailio.registered("1001")
    statuses = hooks.statuses(cid)
    assert statuses.index("ESTABLISHED") < statuses.index("FINISH")


def test_terminate_sends_bye(kamailio, callee, wcs, hooks) -> None:
    peer = callee()
    server = start(wcs, hooks)
    cid = new_id()
    assert server.rest("call/startup", call_body(kamailio, cid, peer.user))[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    assert server.rest("call/terminate", {"callId": cid}) == (200, None)
    finish = hooks.wait_status(cid, "FINISH")
    assert finish["info"] == "Normal call clearing"
    wait_gone(server, cid)
    assert re.search(r"BYE sip:", server.log()), "no BYE in the server's SIP log"
    # The callee saw the call end: no call left at baresip.
    deadline = time.monotonic() + 5
    while active_calls(peer) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert active_calls(peer) == 0


def test_terminate_while_ringing_cancels(kamailio, callee, wcs, hooks) -> None:
    peer = callee(mode="noanswer")
    server = start(wcs, hooks)
    cid = new_id()
    assert server.rest("call/startup", call_body(kamailio, cid, peer.user))[0] == 200
    ring = hooks.wait_status(cid, "RING")
    assert ring["sipStatus"] == 180
    assert server.rest("call/terminate", {"callId": cid}) == (200, None)
    hooks.wait_status(cid, "FINISH")
    wait_gone(server, cid)
    assert "CANCEL sip:" in server.log()
    assert "ESTABLISHED" not in hooks.statuses(cid)


def test_busy_callee(kamailio, callee, wcs, hooks) -> None:
    peer = callee(mode="busy")
    server = start(wcs, hooks)
    cid = new_id()
    assert server.rest("call/startup", call_body(kamailio, cid, peer.user))[0] == 200
    busy = hooks.wait_status(cid, "BUSY")
    assert busy["sipStatus"] == 486
    wait_gone(server, cid)


def test_unknown_callee_fails_with_sip_status(kamailio, wcs, hooks) -> None:
    server = start(wcs, hooks)
    cid = new_id()
    assert server.rest("call/startup", call_body(kamailio, cid, "7777"))[0] == 200
    failed = hooks.wait_status(cid, "FAILED")
    assert failed["sipStatus"] == 404
    wait_gone(server, cid)


def test_wrong_password_fails_without_retry_loop(kamailio, wcs, hooks) -> None:
    server = start(wcs, hooks)
    cid = new_id()
    body = call_body(
        kamailio,
        cid,
        "1002",
        sipLogin="1099",
        sipAuthenticationName="1099",
        sipPassword="not-the-password",
        sipRegisterRequired="true",
    )
    assert server.rest("call/startup", body)[0] == 200
    failed = hooks.wait_status(cid, "FAILED")
    assert failed["info"] == "Authentication failed"
    time.sleep(1.0)  # room for a (wrong) retry loop to show itself in the count below
    registers = server.log().count("REGISTER sip:")
    assert registers <= 4, f"{registers} REGISTER lines logged: retry loop?"
    assert "not-the-password" not in server.log()


def test_nothing_listening_fails_after_timer_b(wcs, hooks) -> None:
    from tests.fixtures.ports import free_port

    server = start(wcs, hooks, sip_t1=0.05)  # Timer B = 64*T1 = 3.2 s
    cid = new_id()
    dead = {"realm": "sip.test", "host": "127.0.0.1", "port": free_port()}

    class Dead:
        realm = dead["realm"]
        host = dead["host"]
        port = dead["port"]

    assert server.rest("call/startup", call_body(Dead, cid, "1002"))[0] == 200
    failed = hooks.wait_status(cid, "FAILED", timeout=30)
    assert failed["info"] == "Failed by request timeout"
    wait_gone(server, cid)


def test_duplicate_call_id_conflicts(kamailio, callee, wcs, hooks) -> None:
    peer = callee()
    server = start(wcs, hooks)
    cid = new_id()
    assert server.rest("call/startup", call_body(kamailio, cid, peer.user))[0] == 200
    status, body = server.rest("call/startup", call_body(kamailio, cid, peer.user))
    assert status == 409
    assert body["field"] == "callId"
    hooks.wait_status(cid, "ESTABLISHED")
    server.rest("call/terminate", {"callId": cid})
    hooks.wait_status(cid, "FINISH")


def test_twenty_calls_at_once(kamailio, callee, wcs, hooks) -> None:
    peer = callee(media="audio")
    server = start(wcs, hooks)
    ids = [new_id() for _ in range(20)]
    for cid in ids:
        body = call_body(kamailio, cid, peer.user, hasVideo="false")
        assert server.rest("call/startup", body)[0] == 200
    for cid in ids:
        hooks.wait_status(cid, "ESTABLISHED", timeout=40)
    status, listed = server.rest("call/find_all")
    assert status == 200 and {c["callId"] for c in listed} == set(ids)
    for cid in ids:
        assert server.rest("call/terminate", {"callId": cid})[0] == 200
    for cid in ids:
        hooks.wait_status(cid, "FINISH", timeout=30)
    assert server.rest("call/find_all")[0] == 404


def test_call_over_tcp(kamailio, callee, wcs, hooks) -> None:
    peer = callee(transport="tcp")
    server = start(wcs, hooks)
    cid = new_id()
    body = call_body(kamailio, cid, peer.user, sipTransport="TCP", sipRegisterRequired="true")
    assert server.rest("call/startup", body)[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    # Registered over TCP: Kamailio keeps our contact with transport=tcp.
    contact = kamailio.contact("1001") or ""
    assert "transport=tcp" in contact.lower(), contact
    peer.hangup()
    hooks.wait_status(cid, "FINISH")
    wait_gone(server, cid)


def test_sigterm_hangs_up_and_unregisters(kamailio, callee, wcs, hooks) -> None:
    peer = callee()
    server = start(wcs, hooks)
    cid = new_id()
    body = call_body(kamailio, cid, peer.user, sipRegisterRequired="true")
    assert server.rest("call/startup", body)[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    assert kamailio.registered("1001")
    assert server.stop() == 0
    assert "BYE sip:" in server.log()
    assert not kamailio.registered("1001")
    deadline = time.monotonic() + 5
    while active_calls(peer) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert active_calls(peer) == 0


def test_password_never_leaks(kamailio, callee, wcs, hooks) -> None:
    peer = callee()
    server = start(wcs, hooks)
    cid = new_id()
    # Kamailio knows 1001's real password only; the call must still go through, so use it,
    # and check that neither it nor the digest response reaches logs, REST or events.
    assert server.rest("call/startup", call_body(kamailio, cid, peer.user))[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    _, found = server.rest("call/find", {"callId": cid})
    server.rest("call/terminate", {"callId": cid})
    hooks.wait_status(cid, "FINISH")
    server.stop()
    for where, text in (("log", server.log()), ("REST", str(found)), ("events", hooks.raw())):
        assert PASSWORD_1001 not in text, f"password in {where}"
        assert "response=" not in text, f"digest response in {where}"


def test_bad_requests_name_the_field(wcs, hooks) -> None:
    server = start(wcs, hooks)
    status, body = server.rest("call/startup", {"callId": "x1"})
    assert status == 400 and body["field"] == "callee"
    status, body = server.rest(
        "call/startup",
        {
            "callId": "x2",
            "callee": "1002",
            "sipLogin": "1001",
            "sipDomain": "sip.test",
            "sipPort": "abc",
        },
    )
    assert status == 400 and body["field"] == "sipPort"
    status, body = server.rest("call/terminate", {})
    assert status == 400 and body["field"] == "callId"
    assert server.rest("call/terminate", {"callId": "nope"})[0] == 404
    assert server.rest("call/find_all")[0] == 404


def test_callee_hold_and_resume(kamailio, callee, wcs, hooks) -> None:
    """baresip's hold sends a re-INVITE with a=sendonly: HOLD, then resume: ESTABLISHED."""
    peer = callee()
    server = start(wcs, hooks)
    cid = new_id()
    assert server.rest("call/startup", call_body(kamailio, cid, peer.user))[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    peer.ctrl("hold")
    hold = hooks.wait_status(cid, "HOLD")
    assert hold["sipStatus"] == 200
    status, found = server.rest("call/find", {"callId": cid})
    assert status == 200 and found[0]["status"] == "HOLD"
    peer.ctrl("resume")
    deadline = time.monotonic() + 10
    while hooks.statuses(cid)[-1] != "ESTABLISHED" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hooks.statuses(cid)[-2:] == ["HOLD", "ESTABLISHED"]
    server.rest("call/terminate", {"callId": cid})
    hooks.wait_status(cid, "FINISH")
