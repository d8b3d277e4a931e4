"""The torture messages arriving at a UserAgent with the UAS role on (incoming calls): the
malformed ones get the same 400 (or nothing) as without it; every INVITE that is usable
becomes exactly one IncomingCall, answered 100 Trying, and the application's refusal (403)
is a well-formed final answer with the To tag of the call; the mutated ones never crash it."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings

from conformance.fuzzing import mutated
from conformance.torture import TortureCase, load_cases
from wcs.sip.events import CallFailed, IncomingCall
from wcs.sip.message import SipResponse, parse_message
from wcs.sip.ua import UserAgent

CASES = [c for c in load_cases() if c.ua is not None]
SOURCE = ("192.0.2.7", 5062)


def _ua() -> UserAgent:
    return UserAgent(local_port=5060, public_ip="192.0.2.1", incoming=True)


def _responses(ua: UserAgent) -> list[SipResponse]:
    out = []
    for data, _dest in ua.datagrams_to_send(0.0):
        msg = parse_message(data)  # what we send must be parseable by ourselves
        assert isinstance(msg, SipResponse), "the UA answered with a request"
        out.append(msg)
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name.removesuffix(".sip"))
def test_uas_reaction(case: TortureCase, caplog: pytest.LogCaptureFixture) -> None:
    ua = _ua()
    with caplog.at_level(logging.DEBUG, logger="wcs"):
        ua.receive(case.data, SOURCE, "udp", 0.0)
        statuses = [r.status for r in _responses(ua)]
        events = []
        while (ev := ua.next_event()) is not None:
            events.append(ev)
    assert not [r for r in caplog.records if r.exc_info], "the UA logged an exception"
    if case.ua == "silent":
        assert statuses == [] and events == []
        return
    if case.ua == "400":
        assert statuses in ([400], [505]) and events == []
        return
    if not events:  # not an INVITE: the same single answer as without the role
        assert len(statuses) == 1 and statuses[0] != 400
        return
    (event,) = events
    assert isinstance(event, IncomingCall) and statuses == [100]
    ua.reject(event.ref, 403, "Forbidden", 0.0)
    (final,) = _responses(ua)
    assert final.status == 403 and "tag=" in (final.headers.get("To") or "")
    ended = ua.next_event()
    assert isinstance(ended, CallFailed) and ended.status == 403
    # a retransmission of the INVITE gets the final answer again, no new call
    ua.receive(case.data, SOURCE, "udp", 0.5)
    assert [r.status for r in _responses(ua)] == [403] and ua.next_event() is None


@given(mutated())
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
def test_mutated_messages_never_crash_the_uas(data: bytes) -> None:
    ua = _ua()
    ua.receive(data, SOURCE, "udp", 0.0)
    _responses(ua)
    while (ev := ua.next_event()) is not None:
        if isinstance(ev, IncomingCall):
            ua.accept(ev.ref, b"v=0\r\n", 0.0)
            _responses(ua)
    ua.handle_timer(40.0)  # Timer H and the BYE of an unacknowledged 2xx
    ua.datagrams_to_send(40.0)
