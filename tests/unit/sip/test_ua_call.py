from __future__ import annotations

from wcs.sip.events import (
    CallAnswered,
    CallFailed,
    CallProgress,
    CallReleased,
    CallRinging,
    CallTrying,
    InfoReceived,
    RemoteAnswer,
    RemoteOffer,
)
from wcs.sip.message import SipResponse
from wcs.sip.uri import NameAddr
from wcs.sip.via import Via

from .peer import ACCOUNT, ANSWER, CHALLENGE, OFFER, PROXY, Harness, Sent, peer_request, reply

RR = [("Record-Route", "<sip:10.0.0.2;lr>"), ("Contact", "<sip:1002@10.0.0.3:5080>")]


def start_call(h: Harness, ref: str = "c1") -> Sent:
    h.ua.invite(ref, ACCOUNT, "1002", OFFER, h.now)
    return h.one()


def answered_call(h: Harness) -> tuple[Sent, SipResponse]:
    inv = start_call(h)
    ok = reply(inv.req, 200, "OK", headers=RR, body=ANSWER)
    h.feed(ok)
    ack = h.one()
    assert ack.req.method == "ACK"
    h.events()
    return inv, ok


def test_invite_request_shape() -> None:
    h = Harness()
    inv = start_call(h)
    req = inv.req
    assert inv.addr == PROXY and inv.transport == "udp"
    assert req.method == "INVITE" and req.uri == "sip:1002@10.0.0.2"
    frm = NameAddr.parse(req.headers.get("From") or "")
    assert frm.display == "Alice" and str(frm.uri) == "sip:1001@10.0.0.2" and frm.tag
    assert req.headers.get("Contact") == "<sip:1001@10.0.0.1:5070>"
    via = req.top_via
    assert via.branch and via.branch.startswith("z9hG4bK") and "rport" in via.params
    assert req.headers.get("Max-Forwards") == "70"
    assert req.headers.get("User-Agent") == "wcs-test"
    assert req.headers.get("Content-Type") == "application/sdp"
    assert req.headers.get("Session-Expires") == "1800"
    assert "timer" in req.headers.get_all("Supported")
    assert "UPDATE" in req.headers.get_all("Allow")
    assert req.body == OFFER


def test_full_call_with_proxy_auth_ringing_answer_and_bye() -> None:
    h = Harness()
    inv = start_call(h)
    h.feed(reply(inv.req, 407, "Proxy Authentication Required",
                 headers=[("Proxy-Authenticate", CHALLENGE)]))  # fmt: skip
    out = h.sent()
    assert [s.req.method for s in out] == ["ACK", "INVITE"]
    ack407, inv2 = out
    assert ack407.req.top_via.branch == inv.req.top_via.branch  # ACK of non-2xx: same branch
    assert inv2.req.call_id == inv.req.call_id
    assert inv2.req.cseq == (inv.req.cseq[0] + 1, "INVITE")
    assert inv2.req.top_via.branch != inv.req.top_via.branch
    authz = inv2.req.headers.get("Proxy-Authorization") or ""
    assert 'username="1001"' in authz and 'uri="sip:1002@10.0.0.2"' in authz
    assert h.events() == []

    h.feed(reply(inv2.req, 100, "Trying", to_tag=None))
    h.feed(reply(inv2.req, 180, "Ringing"))
    h.feed(reply(inv2.req, 183, "Session Progress", body=ANSWER))
    assert h.events() == [
        CallTrying("c1", 100),
        CallRinging("c1", 180, "Ringing", None),
        CallProgress("c1", 183, "Session Progress", ANSWER),
    ]
    ok = reply(inv2.req, 200, "OK", headers=RR, body=ANSWER)
    h.feed(ok)
    ack = h.one()
    assert ack.req.method == "ACK" and ack.req.uri == "sip:1002@10.0.0.3:5080"
    assert ack.req.headers.get_all("Route") == ["<sip:10.0.0.2;lr>"]
    assert ack.req.cseq == (inv2.req.cseq[0], "ACK")
    assert ack.addr == ("10.0.0.2", 5060)
    [ev] = h.events()
    assert ev == CallAnswered("c1", 200, "OK", ANSWER)
    assert isinstance(ev, CallAnswered) and ev.raw is not None
    info = h.ua.call_info("c1")
    assert info is not None and info.remote_tag == "peer1" and info.remote_sdp == ANSWER
    assert info.state == "confirmed"

    # a retransmitted 2xx gets the same ACK again
    h.feed(ok)
    again = h.one()
    assert again.msg == ack.msg

    h.ua.hangup("c1", h.now)
    bye = h.one()
    assert bye.req.method == "BYE" and bye.req.uri == "sip:1002@10.0.0.3:5080"
    assert bye.req.cseq == (inv2.req.cseq[0] + 1, "BYE")
    assert bye.req.headers.get_all("Route") == ["<sip:10.0.0.2;lr>"]
    assert NameAddr.parse(bye.req.headers.get("To") or "").tag == "peer1"
    h.feed(reply(bye.req, 200, "OK"))
    assert h.events() == [CallReleased("c1", False, 200, "Normal call clearing")]
    assert h.ua.call_info("c1") is None
    assert not h.ua.active()


def test_busy_gives_call_failed_and_acks() -> None:
    h = Harness()
    inv = start_call(h)
    h.feed(reply(inv.req, 486, "Busy Here"))
    ack = h.one()
    assert ack.req.method == "ACK" and ack.req.top_via.branch == inv.req.top_via.branch
    assert h.events() == [CallFailed("c1", 486, "Busy Here", "Busy Here")]
    # retransmitted 486 (Timer D keeps the transaction): ACK again, no new event
    h.feed(reply(inv.req, 486, "Busy Here"))
    assert h.one().req.method == "ACK"
    assert h.events() == []
    h.advance(31.9)
    h.feed(reply(inv.req, 486, "Busy Here"))
    assert len(h.sent()) == 1
    h.advance(32.1)  # Timer D over: the transaction is gone, a late copy is ignored
    h.feed(reply(inv.req, 486, "Busy Here"))
    assert h.sent() == []


def test_forbidden_and_repeated_challenge_fail_authentication() -> None:
    h = Harness()
    inv = start_call(h)
    h.feed(reply(inv.req, 403, "Forbidden"))
    h.sent()
    assert h.events() == [CallFailed("c1", 403, "Forbidden", "Authentication failed")]

    inv = start_call(h, "c2")
    h.feed(reply(inv.req, 407, "Proxy Auth", headers=[("Proxy-Authenticate", CHALLENGE)]))
    inv2 = h.sent()[1]
    h.feed(reply(inv2.req, 407, "Proxy Auth", headers=[("Proxy-Authenticate", CHALLENGE)]))
    assert [s.req.method for s in h.sent()] == ["ACK"]  # no retry loop
    assert h.events() == [CallFailed("c2", 407, "Proxy Auth", "Authentication failed")]


def test_stale_nonce_retried_once_more() -> None:
    h = Harness()
    inv = start_call(h)
    h.feed(reply(inv.req, 401, "Unauthorized", headers=[("WWW-Authenticate", CHALLENGE)]))
    inv2 = h.sent()[1]
    assert inv2.req.headers.get("Authorization")
    stale = 'Digest realm="sip.test", nonce="new", qop="auth", stale=true'
    h.feed(reply(inv2.req, 401, "Unauthorized", headers=[("WWW-Authenticate", stale)]))
    inv3 = h.sent()[1]
    assert 'nonce="new"' in (inv3.req.headers.get("Authorization") or "")
    assert inv3.req.cseq[0] == inv.req.cseq[0] + 2
    h.feed(reply(inv3.req, 401, "Unauthorized", headers=[("WWW-Authenticate", stale)]))
    h.sent()
    assert h.events() == [CallFailed("c1", 401, "Unauthorized", "Authentication failed")]


def test_timer_a_doubles_and_timer_b_fails_call() -> None:
    h = Harness()
    inv = start_call(h)
    times = []
    while h.now < 40:
        t = h.ua.get_timer()
        assert t is not None
        h.advance(t)
        out = h.sent()
        if out:
            assert all(s.msg == inv.msg for s in out)
            times.append(t)
        if h.ua.call_info("c1") is None:
            break
    # Timer A: T1, 2T1, 4T1 ... (RFC 3261 §17.1.1.2), until Timer B = 64*T1
    assert times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert h.now == 32.0
    assert h.events() == [CallFailed("c1", None, "Request Timeout", "Failed by request timeout")]


def test_cancel_after_provisional_then_487() -> None:
    h = Harness()
    inv = start_call(h)
    h.feed(reply(inv.req, 180, "Ringing"))
    h.events()
    h.ua.hangup("c1", h.now)
    cancel = h.one()
    assert cancel.req.method == "CANCEL"
    assert cancel.req.top_via.branch == inv.req.top_via.branch
    assert cancel.req.cseq == (inv.req.cseq[0], "CANCEL")
    assert cancel.req.uri == inv.req.uri
    h.feed(reply(cancel.req, 200, "OK"))
    h.feed(reply(inv.req, 487, "Request Terminated"))
    assert h.one().req.method == "ACK"
    assert h.events() == [CallReleased("c1", False, 487, "Normal call clearing")]


def test_cancel_waits_for_provisional_and_2xx_after_cancel_is_acked_and_byed() -> None:
    h = Harness()
    inv = start_call(h)
    h.ua.hangup("c1", h.now)
    assert h.sent() == []  # no CANCEL before a provisional (§9.1)
    h.feed(reply(inv.req, 100, "Trying", to_tag=None))
    assert h.one().req.method == "CANCEL"
    h.feed(reply(inv.req, 200, "OK", headers=RR, body=ANSWER))
    out = h.sent()
    assert [s.req.method for s in out] == ["ACK", "BYE"]
    h.feed(reply(out[1].req, 200, "OK"))
    evs = h.events()
    assert evs[-1] == CallReleased("c1", False, 200, "Normal call clearing")
    assert not any(isinstance(e, CallAnswered) for e in evs)


def test_bye_from_peer() -> None:
    h = Harness()
    _, ok = answered_call(h)
    bye = peer_request(ok, "BYE", 1)
    h.feed(bye)
    resp = h.one()
    assert resp.resp.status == 200 and resp.resp.cseq == (1, "BYE")
    assert h.events() == [CallReleased("c1", True, None, "Normal call clearing")]
    # retransmitted BYE: same 200 again from the server transaction
    h.feed(bye)
    assert h.one().resp.status == 200
    assert h.events() == []


def test_reinvite_hold_answered_through_remote_offer() -> None:
    h = Harness()
    _, ok = answered_call(h)
    hold = ANSWER.replace(b"RTP/AVP 0\r\n", b"RTP/AVP 0\r\na=sendonly\r\n")
    reinv = peer_request(ok, "INVITE", 5, body=hold)
    h.feed(reinv)
    assert h.one().resp.status == 100
    [ev] = h.events()
    assert ev == RemoteOffer("c1", hold, "INVITE")
    h.ua.answer_offer("c1", OFFER, h.now)
    resp = h.one().resp
    assert resp.status == 200 and resp.body == OFFER
    assert resp.headers.get("Contact") == "<sip:1001@10.0.0.1:5070>"
    # 2xx retransmitted by the UA core until the ACK: T1, 2T1, 4T1 ...
    h.advance(0.5)
    assert h.one().msg == resp
    h.advance(1.5)
    assert h.one().msg == resp
    ack = peer_request(ok, "ACK", 5, branch="z9hG4bKpeer2")
    h.feed(ack)
    h.advance(20)
    assert h.sent() == []
    info = h.ua.call_info("c1")
    assert info is not None and info.remote_sdp == hold
    assert info.remote_target == "sip:1002@10.0.0.3:5080"


def test_offerless_reinvite_answer_comes_in_ack() -> None:
    h = Harness()
    _, ok = answered_call(h)
    h.feed(peer_request(ok, "INVITE", 7))
    assert h.one().resp.status == 100
    assert h.events() == [RemoteOffer("c1", None, "INVITE")]
    h.ua.answer_offer("c1", OFFER, h.now)
    assert h.one().resp.body == OFFER
    h.feed(peer_request(ok, "ACK", 7, body=ANSWER, branch="z9hG4bKpeer3"))
    assert h.events() == [RemoteAnswer("c1", ANSWER)]


def test_reinvite_rejected_with_488_and_update_answered() -> None:
    h = Harness()
    _, ok = answered_call(h)
    reinv = peer_request(ok, "INVITE", 2, body=ANSWER)
    h.feed(reinv)
    h.sent()
    h.events()
    h.ua.answer_offer("c1", None, h.now)
    assert h.one().resp.status == 488
    h.feed(peer_request(ok, "ACK", 2))  # ACK for the 488 is absorbed by the transaction
    assert h.sent() == []
    h.feed(peer_request(ok, "UPDATE", 3, body=ANSWER, branch="z9hG4bKupd"))
    assert h.events() == [RemoteOffer("c1", ANSWER, "UPDATE")]
    h.ua.answer_offer("c1", OFFER, h.now)
    resp = h.one().resp
    assert (resp.status, resp.cseq, resp.body) == (200, (3, "UPDATE"), OFFER)


def test_422_retries_with_larger_session_expires() -> None:
    h = Harness()
    inv = start_call(h)
    h.feed(reply(inv.req, 422, "Session Interval Too Small", headers=[("Min-SE", "3600")]))
    out = h.sent()
    assert [s.req.method for s in out] == ["ACK", "INVITE"]
    inv2 = out[1].req
    assert inv2.headers.get("Session-Expires") == "3600"
    assert inv2.headers.get("Min-SE") == "3600"
    assert inv2.cseq[0] == inv.req.cseq[0] + 1 and inv2.call_id == inv.req.call_id
    assert h.events() == []


def test_session_refresh_by_us_uses_update_when_allowed() -> None:
    h = Harness()
    inv = start_call(h)
    headers = [*RR, ("Session-Expires", "120;refresher=uac"), ("Allow", "INVITE, ACK, BYE, UPDATE")]
    h.feed(reply(inv.req, 200, "OK", headers=headers, body=ANSWER))
    h.sent()
    h.events()
    h.advance(59.9)
    assert h.sent() == []
    h.advance(60.0)
    upd = h.one().req
    assert upd.method == "UPDATE" and upd.headers.get("Session-Expires") == "120;refresher=uac"
    h.feed(reply(upd, 200, "OK", headers=[("Session-Expires", "120;refresher=uac")]))
    h.advance(119.9)
    assert h.sent() == []
    h.advance(120.0)
    assert h.one().req.method == "UPDATE"


def test_session_expiry_when_peer_is_refresher_sends_bye() -> None:
    h = Harness()
    inv = start_call(h)
    headers = [*RR, ("Session-Expires", "120;refresher=uas")]
    ok = reply(inv.req, 200, "OK", headers=headers, body=ANSWER)
    h.feed(ok)
    h.sent()
    h.events()
    # a refresh from the peer at t=60 restarts the clock
    h.advance(60)
    h.feed(peer_request(ok, "UPDATE", 2, headers=[("Session-Expires", "120;refresher=uac")]))
    resp = h.one().resp
    assert resp.status == 200 and resp.headers.get("Session-Expires") == "120;refresher=uac"
    h.advance(60 + 87.9)  # expiry guard: interval - min(32, interval/3) = 88 s
    assert h.sent() == []
    h.advance(60 + 88)
    bye = h.one().req
    assert bye.method == "BYE"
    h.feed(reply(bye, 200, "OK"))
    assert h.events() == [CallReleased("c1", False, 200, "Session timer expired")]


def test_info_both_ways() -> None:
    h = Harness()
    _, ok = answered_call(h)
    h.feed(peer_request(ok, "INFO", 2, headers=[("Content-Type", "application/dtmf-relay")]))
    assert h.one().resp.status == 200
    assert h.events() == [InfoReceived("c1", "application/dtmf-relay", b"")]
    body = b'<?xml version="1.0"?><media_control/>'
    h.ua.send_info("c1", "application/media_control+xml", body, h.now)
    info = h.one().req
    assert info.method == "INFO" and info.body == body
    assert info.headers.get("Content-Type") == "application/media_control+xml"


def test_requests_for_unknown_dialogs_and_methods() -> None:
    h = Harness()
    _, ok = answered_call(h)
    bad = peer_request(ok, "BYE", 3)
    bad.headers.set("Call-ID", "nope")
    h.feed(bad)
    assert h.one().resp.status == 481
    h.feed(peer_request(ok, "FOO", 4, branch="z9hG4bKfoo"))
    assert h.one().resp.status == 501
    h.feed(peer_request(ok, "OPTIONS", 5, branch="z9hG4bKopt"))
    assert h.one().resp.status == 200
    # CSeq going backwards in the dialog
    h.feed(peer_request(ok, "INFO", 1, branch="z9hG4bKold"))
    assert h.one().resp.status == 500


def test_rport_and_received_on_responses() -> None:
    h = Harness()
    data = (
        b"OPTIONS sip:1001@10.0.0.1:5070 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bKnat;rport\r\n"
        b"From: <sip:x@h>;tag=a\r\nTo: <sip:1001@10.0.0.1>\r\nCall-ID: o1\r\n"
        b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    h.feed(data, addr=("203.0.113.7", 40000))
    resp = h.one()
    assert resp.resp.status == 200 and resp.addr == ("203.0.113.7", 40000)
    via = Via.parse(resp.resp.headers.get_all("Via")[0])
    assert via.params["received"] == "203.0.113.7" and via.rport == 40000
    assert NameAddr.parse(resp.resp.headers.get("To") or "").tag


def test_malformed_request_gets_400_or_is_dropped() -> None:
    h = Harness()
    bad = (
        b"INVITE sip:1001@10.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKbad\r\n"
        b"From: <sip:x@h>;tag=a\r\nTo: <sip:1001@10.0.0.1>\r\nCall-ID: b1\r\n"
        b"CSeq: 1 INVITE\r\nContent-Length: 500\r\n\r\nshort"
    )
    h.feed(bad, addr=("10.0.0.9", 5060))
    resp = h.one()
    assert resp.resp.status == 400 and "Content-Length" in resp.resp.reason
    assert resp.addr == ("10.0.0.9", 5060)
    h.feed(b"\x00\x01garbage\r\n\r\n")
    h.feed(b"INVITE sip:x SIP/2.0\r\nCSeq: 1 INVITE\r\nbroken\r\n\r\n")
    assert h.sent() == []
    # a CSeq whose method does not match the request
    h.feed(bad.replace(b"500", b"5").replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"))
    r = h.one().resp
    assert r.status == 400 and "CSeq" in r.reason
    assert h.events() == []


def test_session_refresh_by_reinvite_is_acked() -> None:
    h = Harness()
    inv = start_call(h)
    headers = [*RR, ("Session-Expires", "90;refresher=uac")]
    h.feed(reply(inv.req, 200, "OK", headers=headers, body=ANSWER))
    h.sent()
    h.events()
    h.advance(45)
    reinv = h.one().req
    assert reinv.method == "INVITE" and reinv.body == OFFER
    assert reinv.headers.get("Session-Expires") == "90;refresher=uac"
    assert NameAddr.parse(reinv.headers.get("To") or "").tag == "peer1"
    h.feed(reply(reinv, 200, "OK", headers=[("Session-Expires", "90;refresher=uac")], body=ANSWER))
    ack = h.one().req
    assert ack.method == "ACK" and ack.cseq == (reinv.cseq[0], "ACK")
    assert h.events() == []  # a refresh is invisible to the app
    info = h.ua.call_info("c1")
    assert info is not None and info.state == "confirmed"


def test_refresh_answered_481_ends_call() -> None:
    h = Harness()
    inv = start_call(h)
    headers = [*RR, ("Session-Expires", "90;refresher=uac"), ("Allow", "UPDATE")]
    h.feed(reply(inv.req, 200, "OK", headers=headers, body=ANSWER))
    h.sent()
    h.events()
    h.advance(45)
    upd = h.one().req
    h.feed(reply(upd, 481, "Call Does Not Exist"))
    bye = h.one().req
    assert bye.method == "BYE"
    h.feed(reply(bye, 481, "Call Does Not Exist"))
    assert h.events() == [CallReleased("c1", False, 481, "Session refresh failed")]


def test_no_ack_for_our_2xx_ends_call() -> None:
    h = Harness()
    _, ok = answered_call(h)
    h.feed(peer_request(ok, "INVITE", 3, body=ANSWER))
    h.sent()
    h.events()
    h.ua.answer_offer("c1", OFFER, h.now)
    h.one()
    h.advance(31.9)
    retrans = h.sent()
    # T1 doubling, capped at T2: 0.5, 1.5, 3.5, 7.5, 11.5, 15.5 ... 31.5
    assert len(retrans) == 10 and all(s.resp.status == 200 for s in retrans)
    h.advance(32)
    bye = h.one().req
    assert bye.method == "BYE"


def test_peer_cancels_its_reinvite() -> None:
    h = Harness()
    _, ok = answered_call(h)
    reinv = peer_request(ok, "INVITE", 3, body=ANSWER, branch="z9hG4bKre")
    h.feed(reinv)
    h.sent()
    h.events()
    cancel = peer_request(ok, "CANCEL", 3, branch="z9hG4bKre")
    h.feed(cancel)
    out = sorted((s.resp.cseq[1], s.resp.status) for s in h.sent())
    assert out == [("CANCEL", 200), ("INVITE", 487)]
    h.ua.answer_offer("c1", OFFER, h.now)  # too late: nothing is sent
    assert h.sent() == []


def test_3xx_followed_once() -> None:
    h = Harness()
    inv = start_call(h)
    h.feed(reply(inv.req, 302, "Moved", headers=[("Contact", "<sip:1002@10.0.0.7:5090>")]))
    out = h.sent()
    assert [s.req.method for s in out] == ["ACK", "INVITE"]
    inv2 = out[1].req
    assert inv2.uri == "sip:1002@10.0.0.7:5090"
    assert inv2.headers.get("To") == inv.req.headers.get("To")
    assert inv2.call_id == inv.req.call_id and inv2.cseq[0] == inv.req.cseq[0] + 1
    assert out[1].addr == PROXY  # still through the account's proxy/domain
    h.feed(reply(inv2, 301, "Moved Permanently", headers=[("Contact", "<sip:x@10.0.0.8>")]))
    assert [s.req.method for s in h.sent()] == ["ACK"]
    assert h.events() == [CallFailed("c1", 301, "Moved Permanently", "Moved Permanently")]


def test_bad_callee_raises_value_error() -> None:
    import pytest

    h = Harness()
    for callee in ("10 02", "sip:", "sip:a b@h"):
        with pytest.raises(ValueError):
            h.ua.invite("bad", ACCOUNT, callee, OFFER, h.now)
    assert h.sent() == [] and h.ua.call_info("bad") is None
    start_call(h, "bad")  # the ref is still free
    with pytest.raises(ValueError, match="exists"):
        h.ua.invite("bad", ACCOUNT, "1002", OFFER, h.now)
