"""Registrations over TCP: OPTIONS keep-alives to the registrar and re-REGISTER when the flow
looks dead (N keep-alives unanswered, or the connection lost)."""

from __future__ import annotations

import dataclasses

from wcs.sip.events import RegistrationFailed, RegistrationSucceeded
from wcs.sip.ua import UserAgent

from .peer import ACCOUNT, PROXY, Harness, reply

TCP = dataclasses.replace(ACCOUNT, transport="tcp")


def registered(account: object = TCP, **ua: object) -> tuple[Harness, str, str]:
    h = Harness(UserAgent(local_port=5070, public_ip="10.0.0.1", **ua))  # type: ignore[arg-type]
    reg_id = h.ua.register(account, h.now)  # type: ignore[arg-type]
    req = h.one().req
    h.feed(reply(req, 200, "OK", headers=[("Expires", "600")]))
    assert h.events() == [RegistrationSucceeded(reg_id, 600)]
    return h, reg_id, req.call_id


def test_keepalive_options_then_reregister_after_two_misses() -> None:
    h, reg_id, call_id = registered(keepalive_interval=30.0, keepalive_failures=2)
    h.advance(29.9)
    assert h.sent() == []
    h.advance(30.0)
    probe = h.one()
    assert probe.req.method == "OPTIONS" and probe.addr == PROXY and probe.transport == "tcp"
    assert probe.req.uri == "sip:10.0.0.2;transport=tcp"
    h.feed(reply(probe.req, 404, "Not Here"))  # any final answer: alive
    h.advance(60.0)
    miss1 = h.one().req
    assert miss1.method == "OPTIONS"
    h.advance(60.0 + 32.0)  # Timer F: no answer
    assert h.sent() == [] and h.events() == []
    h.advance(60.0 + 32.0 + 30.0)
    miss2 = h.one().req
    assert miss2.method == "OPTIONS" and miss2.call_id != miss1.call_id
    h.advance(60.0 + 2 * 32.0 + 30.0)  # the second miss in a row: REGISTER at once
    again = h.one().req
    assert again.method == "REGISTER" and again.call_id == call_id
    h.feed(reply(again, 200, "OK", headers=[("Expires", "600")]))
    assert h.events() == [RegistrationSucceeded(reg_id, 600)]
    assert h.ua.keepalive_stats == (3, 1)


def test_a_lost_connection_registers_again_at_once() -> None:
    h, _reg_id, call_id = registered(keepalive_interval=0.0)
    h.ua.flow_lost(("10.0.0.9", 5060), "tcp", h.now)  # another flow: nothing
    h.ua.flow_lost(("10.0.0.2", 5060), "udp", h.now)
    assert h.sent() == []
    h.ua.flow_lost(PROXY, "tcp", h.now)
    again = h.one().req
    assert again.method == "REGISTER" and again.call_id == call_id
    h.ua.flow_lost(PROXY, "tcp", h.now)  # that REGISTER's connection died too (the registrar
    assert h.sent() == []  # was going down): no other REGISTER now, the one in flight fails
    (failed,) = h.events()  # at once instead of after Timer F, and the app backs off
    assert isinstance(failed, RegistrationFailed) and "Connection lost" in str(failed)
    h.feed(reply(again, 503, "Service Unavailable"))  # a late answer changes nothing
    assert h.events() == []
    h.advance(10_000)
    assert [s.req.method for s in h.sent()] == []  # no OPTIONS (interval 0), no loop


def test_udp_registrations_are_not_probed() -> None:
    h, _reg_id, _ = registered(ACCOUNT)
    h.ua.flow_lost(PROXY, "udp", h.now)
    h.advance(250.0)
    assert h.sent() == []  # the refresh (at 300 s) is UDP's keep-alive
    assert h.ua.keepalive_stats == (0, 0)
