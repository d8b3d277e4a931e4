"""The UAS role of the UserAgent: a peer's INVITE, our answers, its ACK, CANCEL and BYE."""

from __future__ import annotations

import pytest

from wcs.sip.events import CallAnswered, CallFailed, CallReleased, IncomingCall, RemoteOffer
from wcs.sip.message import Headers, SipRequest, SipResponse
from wcs.sip.ua import UserAgent
from wcs.sip.uri import NameAddr

from .peer import ANSWER, OFFER, PROXY, Harness, Sent

CALL_ID = "in-call-1@10.0.0.2"


def incoming_harness() -> Harness:
    return Harness(UserAgent(local_port=5070, public_ip="10.0.0.1", incoming=True))


def invite(
    body: bytes = OFFER,
    *,
    branch: str = "z9hG4bKinv1",
    cseq: int = 1,
    headers: list[tuple[str, str]] | None = None,
    call_id: str = CALL_ID,
) -> SipRequest:
    h = Headers(
        [
            ("Via", f"SIP/2.0/UDP 10.0.0.2:5060;branch={branch}"),
            ("Record-Route", "<sip:10.0.0.2;lr>"),
            ("From", "<sip:1001@sip.test>;tag=caller1"),
            ("To", "<sip:1003@sip.test>"),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} INVITE"),
            ("Contact", "<sip:1001@10.0.0.3:5080>"),
            ("Max-Forwards", "69"),
            *(headers or []),
            *([("Content-Type", "application/sdp")] if body else []),
        ]
    )
    return SipRequest("INVITE", "sip:1003@10.0.0.1:5070", h, body)


def from_peer(
    answered: SipResponse, method: str, cseq: int, branch: str, body: bytes = b""
) -> SipRequest:
    """A request of the caller inside the dialog our response made (ACK: cseq of the INVITE)."""
    h = Headers()
    h.add("Via", f"SIP/2.0/UDP 10.0.0.2:5060;branch={branch}")
    for name in ("From", "To"):
        h.add(name, answered.headers.get(name) or "")
    h.add("Call-ID", answered.call_id)
    h.add("CSeq", f"{cseq} {method}")
    h.add("Max-Forwards", "70")
    return SipRequest(method, "sip:1003@10.0.0.1:5070", h, body)


def ack(resp: SipResponse, body: bytes = b"", branch: str = "z9hG4bKack1") -> SipRequest:
    return from_peer(resp, "ACK", resp.cseq[0], branch, body)


def arrive(h: Harness, req: SipRequest | None = None) -> tuple[IncomingCall, Sent]:
    h.feed(req or invite())
    trying = h.one()
    assert trying.resp.status == 100 and trying.addr == PROXY
    (event,) = h.events()
    assert isinstance(event, IncomingCall)
    return event, trying


def established(h: Harness) -> tuple[str, SipResponse]:
    event, _ = arrive(h)
    h.ua.accept(event.ref, ANSWER, h.now)
    ok = h.one().resp
    h.feed(ack(ok))
    assert h.sent() == []
    assert [type(e) for e in h.events()] == [CallAnswered]
    return event.ref, ok


def test_invite_surfaces_with_caller_callee_and_offer() -> None:
    h = incoming_harness()
    event, trying = arrive(h)
    assert (event.caller, event.callee) == ("1001", "1003")
    assert event.sdp == OFFER and event.source == PROXY and event.transport == "udp"
    assert event.request_uri == "sip:1003@10.0.0.1:5070"
    assert "tag=" not in (trying.resp.headers.get("To") or "")


def test_ring_then_accept_then_ack_confirms() -> None:
    h = incoming_harness()
    event, _ = arrive(h)
    h.ua.ring(event.ref, h.now)
    ringing = h.one().resp
    assert ringing.status == 180
    tag = NameAddr.parse(ringing.headers.get("To") or "").tag
    assert tag and ringing.headers.get("Contact") == "<sip:1003@10.0.0.1:5070>"
    h.ua.accept(event.ref, ANSWER, h.now)
    ok = h.one().resp
    assert ok.status == 200 and ok.body == ANSWER
    assert NameAddr.parse(ok.headers.get("To") or "").tag == tag  # one dialog
    assert ok.headers.get("Content-Type") == "application/sdp"
    h.feed(ack(ok))
    (answered,) = h.events()
    assert answered == CallAnswered(event.ref, 200, "OK", None)
    info = h.ua.call_info(event.ref)
    assert info is not None and info.state == "confirmed" and info.remote_sdp == OFFER


def test_180_and_200_copy_record_route_in_order() -> None:
    """§12.1.1: without the proxies' Record-Route in our 2xx a caller behind a proxy
    (SIPp through Kamailio) sends its ACK and BYE with no Route, and the proxy drops them."""
    h = incoming_harness()
    two = [("Record-Route", "<sip:10.0.0.9;lr;ftag=x>")]
    event, trying = arrive(h, invite(headers=two))
    assert trying.resp.headers.get_all("Record-Route") == []  # 100 makes no dialog
    h.ua.ring(event.ref, h.now)
    h.ua.accept(event.ref, ANSWER, h.now)
    ringing, ok = (s.resp for s in h.sent())
    for resp in (ringing, ok):
        assert resp.headers.get_all("Record-Route") == ["<sip:10.0.0.2;lr>", two[0][1]]


def test_2xx_is_retransmitted_until_the_ack() -> None:
    h = incoming_harness()
    event, _ = arrive(h)
    h.ua.accept(event.ref, ANSWER, h.now)
    ok = h.one().resp
    h.advance(0.5)  # Timer G: T1
    assert h.one().resp.status == 200
    h.advance(1.5)  # then 2*T1
    assert h.one().resp.status == 200
    h.feed(ack(ok))
    h.events()
    h.advance(30)
    assert h.sent() == []


def test_no_ack_fails_the_call_and_sends_bye() -> None:
    h = incoming_harness()
    event, _ = arrive(h)
    h.ua.accept(event.ref, ANSWER, h.now)
    h.sent()
    h.advance(31.9)
    assert all(s.resp.status == 200 for s in h.sent())  # retransmissions only
    h.advance(32.1)  # Timer H: 64*T1
    out = h.sent()
    byes = [s for s in out if s.msg.start_line().startswith("BYE")]
    assert len(byes) == 1 and byes[0].addr == PROXY  # through the Record-Route
    assert byes[0].req.headers.get("Route") == "<sip:10.0.0.2;lr>"
    assert byes[0].req.uri == "sip:1001@10.0.0.3:5080"
    events = h.events()
    assert events[0] == CallFailed(event.ref, 408, "Request Timeout", "No ACK for 2xx")


def test_retransmitted_invite_gets_100_then_the_2xx_again() -> None:
    h = incoming_harness()
    event, _ = arrive(h)
    h.feed(invite())  # same transaction: the last response again
    assert h.one().resp.status == 100
    h.ua.accept(event.ref, ANSWER, h.now)
    h.one()
    h.feed(invite())  # the transaction ended with the 2xx: the call answers
    assert h.one().resp.status == 200
    assert h.events() == []


def test_cancel_while_ringing_gives_200_and_487() -> None:
    h = incoming_harness()
    event, _ = arrive(h)
    h.ua.ring(event.ref, h.now)
    ringing = h.one().resp
    cancel = invite(b"")
    cancel.method = "CANCEL"
    cancel.headers.set("CSeq", "1 CANCEL")
    h.feed(cancel)
    out = [s.resp for s in h.sent()]
    assert [(r.status, r.cseq[1]) for r in out] == [(200, "CANCEL"), (487, "INVITE")]
    assert out[1].headers.get("To") == ringing.headers.get("To")
    (failed,) = h.events()
    assert failed == CallFailed(event.ref, 487, "Request Terminated", "Cancelled by caller")
    assert h.ua.call_info(event.ref) is None
    h.ua.accept(event.ref, ANSWER, h.now)  # too late: nothing is sent
    assert h.sent() == []


def test_reject_with_warning_and_redirect() -> None:
    h = incoming_harness()
    event, _ = arrive(h)
    h.ua.reject(event.ref, 488, "Not Acceptable Here", h.now, [("Warning", '304 wcs "x"')])
    resp = h.one().resp
    assert (resp.status, resp.headers.get("Warning")) == (488, '304 wcs "x"')
    assert h.events() == [CallFailed(event.ref, 488, "Not Acceptable Here", "Not Acceptable Here")]
    h.feed(ack(resp, branch="z9hG4bKinv1"))  # the ACK of a non-2xx ends its transaction
    h.advance(40)
    assert h.sent() == []
    event2, _ = arrive(h, invite(branch="z9hG4bKinv2", call_id="other"))
    h.ua.redirect(event2.ref, ["sip:1002@10.0.0.9"], h.now)
    moved = h.one().resp
    assert (moved.status, moved.headers.get("Contact")) == (302, "<sip:1002@10.0.0.9>")
    with pytest.raises(ValueError):
        h.ua.reject(event2.ref, 200, "OK", h.now)


def test_hangup_of_a_waiting_call_declines_it() -> None:
    h = incoming_harness()
    event, _ = arrive(h)
    h.ua.hangup(event.ref, h.now)
    assert h.one().resp.status == 603


def test_offerless_invite_takes_the_answer_from_the_ack() -> None:
    h = incoming_harness()
    event, _ = arrive(h, invite(b""))
    assert event.sdp is None
    h.ua.accept(event.ref, OFFER, h.now)
    ok = h.one().resp
    h.feed(ack(ok, ANSWER))
    assert h.events() == [CallAnswered(event.ref, 200, "OK", ANSWER)]


def test_offerless_invite_with_an_empty_ack_is_hung_up() -> None:
    h = incoming_harness()
    event, _ = arrive(h, invite(b""))
    h.ua.accept(event.ref, OFFER, h.now)
    h.feed(ack(h.one().resp))
    assert h.one().req.method == "BYE"
    (failed,) = h.events()
    assert isinstance(failed, CallFailed) and failed.info == "No SDP answer in the ACK"


def test_bye_from_the_caller_and_from_us() -> None:
    h = incoming_harness()
    ref, ok = established(h)
    h.feed(from_peer(ok, "BYE", 2, "z9hG4bKbye1"))
    assert h.one().resp.status == 200
    (released,) = h.events()
    assert isinstance(released, CallReleased) and released.by_remote and released.ref == ref
    h2 = incoming_harness()
    ref2, _ = established(h2)
    h2.ua.hangup(ref2, h2.now)
    bye = h2.one().req
    assert bye.method == "BYE" and (bye.headers.get("From") or "").startswith("<sip:1003@sip.test>")
    assert NameAddr.parse(bye.headers.get("To") or "").tag == "caller1"
    assert bye.headers.get("Reason") is None
    h3 = incoming_harness()
    ref3, _ = established(h3)
    h3.ua.hangup(ref3, h3.now, 'SIP;cause=403;text="Wrong PIN"')  # RFC 3326
    assert h3.one().req.headers.get("Reason") == 'SIP;cause=403;text="Wrong PIN"'


def test_reinvite_from_the_caller_is_a_remote_offer() -> None:
    h = incoming_harness()
    ref, ok = established(h)
    reinvite = from_peer(ok, "INVITE", 2, "z9hG4bKre1")
    reinvite.headers.add("Contact", "<sip:1001@10.0.0.3:5080>")
    reinvite.headers.add("Content-Type", "application/sdp")
    reinvite.body = OFFER
    h.feed(reinvite)
    assert h.one().resp.status == 100
    assert h.events() == [RemoteOffer(ref, OFFER, "INVITE")]


def test_session_timer_asked_by_the_caller() -> None:
    h = incoming_harness()
    req = invite(headers=[("Session-Expires", "120;refresher=uac"), ("Supported", "timer")])
    event, _ = arrive(h, req)
    h.ua.accept(event.ref, ANSWER, h.now)
    ok = h.one().resp
    assert ok.headers.get("Session-Expires") == "120;refresher=uac"
    h.feed(ack(ok))
    h.events()
    h.advance(120 - 32 + 0.1)  # the caller never refreshed: we end the call
    assert any(s.msg.start_line().startswith("BYE") for s in h.sent())


@pytest.mark.parametrize(
    ("extra", "status"),
    [([("Max-Forwards", "0")], 483), ([("Require", "100rel")], 420)],
)
def test_refusals_before_the_application(extra: list[tuple[str, str]], status: int) -> None:
    h = incoming_harness()
    req = invite()
    for name, value in extra:
        req.headers.set(name, value)
    h.feed(req)
    assert h.one().resp.status == status
    assert h.events() == []


def test_merged_request_is_482_and_role_off_is_603() -> None:
    h = incoming_harness()
    arrive(h)
    h.feed(invite(branch="z9hG4bKother", cseq=7))
    assert h.one().resp.status == 482
    off = Harness()
    off.feed(invite())
    assert off.one().resp.status == 603 and off.events() == []
