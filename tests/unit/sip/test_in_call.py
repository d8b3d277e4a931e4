"""Taking part in a call, SIP side (sans-IO UA, scripted peer): DTMF by INFO paced one at a
time, our re-INVITE (hold) with its ACK, REFER and its NOTIFYs, a peer's REFER declined."""

from __future__ import annotations

import pytest

from wcs.media.dtmf import DtmfError, DtmfSettings
from wcs.sip.events import (
    DtmfInfoSent,
    OfferAnswered,
    ReferReceived,
    RemoteAnswer,
    TransferUpdate,
)
from wcs.sip.in_call import InCallError
from wcs.sip.refer import ACCEPTED, COMPLETED, TRYING
from wcs.sip.uri import SipUri

from .peer import ANSWER, OFFER, Harness, peer_request, reply
from .test_ua_call import answered_call, start_call

SETTINGS = DtmfSettings(tone_ms=100, gap_ms=50)


def test_info_keys_one_at_a_time_paced_by_tone_and_gap() -> None:
    h = Harness()
    answered_call(h)
    h.ua.send_dtmf_info("c1", "INFO", "12", h.now, settings=SETTINGS)
    first = h.one().req
    assert first.method == "INFO"
    assert first.headers.get("Content-Type") == "application/dtmf-relay"
    assert first.body == b"Signal=1\r\nDuration=100\r\n"
    h.advance(1.0)
    # Nothing but retransmissions of the first until it is answered (RFC 6086: one
    # outstanding), although its tone and gap are long over.
    assert all(s.req.body == first.body for s in h.sent())
    h.feed(reply(first, 200, "OK"))
    assert h.events() == [DtmfInfoSent("c1", "1", 200, "OK")]
    second = h.one().req  # tone + gap (0.15 s) have passed already
    assert second.body == b"Signal=2\r\nDuration=100\r\n"
    h.feed(reply(second, 200, "OK"))
    assert h.events() == [DtmfInfoSent("c1", "2", 200, "OK")]


def test_info_relay_refused_drops_the_rest_and_the_call_goes_on() -> None:
    h = Harness()
    answered_call(h)
    h.ua.send_dtmf_info("c1", "INFO_RELAY", "123", h.now, settings=SETTINGS)
    first = h.one().req
    assert first.headers.get("Content-Type") == "application/dtmf" and first.body == b"1"
    h.feed(reply(first, 501, "Not Implemented"))
    assert h.events() == [DtmfInfoSent("c1", "1", 501, "Not Implemented", "23")]
    h.advance(5.0)
    assert h.sent() == []  # no BYE, no more INFO
    info = h.ua.call_info("c1")
    assert info is not None and info.state == "confirmed"


def test_info_bad_keys_and_unconfirmed_call() -> None:
    h = Harness()
    start_call(h)
    with pytest.raises(InCallError):
        h.ua.send_dtmf_info("c1", "INFO", "1", h.now)
    h2 = Harness()
    answered_call(h2)
    with pytest.raises(DtmfError):
        h2.ua.send_dtmf_info("c1", "INFO", "1x", h2.now)
    assert h2.sent() == []


def test_reinvite_hold_is_acked_and_answer_reported() -> None:
    h = Harness()
    answered_call(h)
    hold = OFFER.replace(b"RTP/AVP 0\r\n", b"RTP/AVP 0\r\na=sendonly\r\n")
    h.ua.reinvite("c1", hold, h.now)
    inv = h.one().req
    assert inv.method == "INVITE" and inv.body == hold
    assert inv.headers.get("Content-Type") == "application/sdp"
    with pytest.raises(InCallError):
        h.ua.reinvite("c1", hold, h.now)  # one offer at a time
    # The peer's own offer meanwhile: 491 (glare).
    h.feed(peer_request(reply(inv, 200, "OK"), "INVITE", 9, body=ANSWER))
    glare = [s.resp.status for s in h.sent()]
    assert 491 in glare
    recv = ANSWER.replace(b"RTP/AVP 0\r\n", b"RTP/AVP 0\r\na=recvonly\r\n")
    h.feed(reply(inv, 200, "OK", body=recv))
    ack = h.one().req
    assert ack.method == "ACK" and ack.cseq[0] == inv.cseq[0]
    assert h.events() == [RemoteAnswer("c1", recv), OfferAnswered("c1", 200, "OK")]


def test_reinvite_refused_is_reported_and_the_call_stays() -> None:
    h = Harness()
    answered_call(h)
    h.ua.reinvite("c1", OFFER, h.now)
    inv = h.one().req
    h.feed(reply(inv, 488, "Not Acceptable Here"))
    assert [s.req.method for s in h.sent()] == ["ACK"]  # the transaction ACKs a non-2xx
    assert h.events() == [OfferAnswered("c1", 488, "Not Acceptable Here")]
    info = h.ua.call_info("c1")
    assert info is not None and info.state == "confirmed"


def test_refer_then_notify_progress() -> None:
    h = Harness()
    _, ok = answered_call(h)
    h.ua.refer("c1", SipUri.parse("sip:1003@10.0.0.2"), h.now)
    refer = h.one().req
    assert refer.method == "REFER"
    assert refer.headers.get("Refer-To") == "<sip:1003@10.0.0.2>"
    assert refer.headers.get("Referred-By") == "<sip:1001@10.0.0.2>"
    h.feed(reply(refer, 202, "Accepted"))
    [accepted] = h.events()
    assert isinstance(accepted, TransferUpdate) and accepted.progress.status == ACCEPTED

    def notify(cseq: int, frag: bytes, state: str) -> int:
        n = peer_request(ok, "NOTIFY", cseq, branch=f"z9hG4bKn{cseq}",
                         headers=[("Event", "refer"), ("Subscription-State", state),
                                  ("Content-Type", "message/sipfrag")])  # fmt: skip
        n.body = frag
        h.feed(n)
        return h.one().resp.status

    assert notify(2, b"SIP/2.0 100 Trying\r\n", "active;expires=60") == 200
    [trying] = h.events()
    assert isinstance(trying, TransferUpdate) and trying.progress.status == TRYING
    assert notify(3, b"SIP/2.0 200 OK\r\n", "terminated;reason=noresource") == 200
    [done] = h.events()
    assert isinstance(done, TransferUpdate) and done.progress.status == COMPLETED
    assert done.progress.final


def test_notify_without_our_refer_and_a_peer_refer() -> None:
    h = Harness()
    _, ok = answered_call(h)
    n = peer_request(ok, "NOTIFY", 2, headers=[("Event", "refer"),
                                               ("Subscription-State", "active")])  # fmt: skip
    h.feed(n)
    assert h.one().resp.status == 481
    r = peer_request(ok, "REFER", 3, branch="z9hG4bKr",
                     headers=[("Refer-To", "<sip:666@evil.example>")])  # fmt: skip
    h.feed(r)
    assert h.one().resp.status == 603
    assert h.events() == []


def test_peer_refer_allowed_202_notifies_then_event() -> None:
    h = Harness()
    _, ok = answered_call(h)
    h.ua.allow_refer = True
    r = peer_request(ok, "REFER", 3, branch="z9hG4bKr",
                     headers=[("Refer-To", "<sip:1003@pbx.test>"),
                              ("Referred-By", "<sip:1002@pbx.test>")])  # fmt: skip
    h.feed(r)
    accepted, notify_sent = h.sent()
    assert accepted.resp.status == 202
    notify = notify_sent.req
    assert notify.method == "NOTIFY" and notify.headers.get("Event") == "refer"
    assert notify.headers.get("Subscription-State") == "active;expires=60"
    assert notify.headers.get("Content-Type") == "message/sipfrag;version=2.0"
    assert notify.body == b"SIP/2.0 100 Trying\r\n"
    [event] = h.events()
    assert isinstance(event, ReferReceived)
    assert (event.target, event.referred_by) == ("sip:1003@pbx.test", "<sip:1002@pbx.test>")
    # a second REFER while this one runs: 491
    h.feed(peer_request(ok, "REFER", 4, branch="z9hG4bKr2",
                        headers=[("Refer-To", "<sip:1004@pbx.test>")]))  # fmt: skip
    assert h.one().resp.status == 491
    h.ua.notify_refer("c1", 200, "OK", h.now)
    final = h.one().req
    assert final.body == b"SIP/2.0 200 OK\r\n"
    assert final.headers.get("Subscription-State") == "terminated;reason=noresource"
    h.ua.notify_refer("c1", 200, "OK", h.now)  # the subscription is over: nothing more
    assert h.sent() == []


@pytest.mark.parametrize(
    "refer_to",
    [[], ["<sip:a@b>", "<sip:c@d>"], ["not a uri"], ["<sip:1003@pbx.test;method=BYE>"],
     ["<sip:1003@pbx.test?Replaces=abc>"]],
)  # fmt: skip
def test_peer_refer_allowed_but_unusable_gets_400(refer_to: list[str]) -> None:
    h = Harness()
    _, ok = answered_call(h)
    h.ua.allow_refer = True
    headers = [("Refer-To", v) for v in refer_to]
    h.feed(peer_request(ok, "REFER", 3, branch="z9hG4bKr", headers=headers))
    assert h.one().resp.status == 400
    assert h.events() == []


def test_peer_refer_sub_false_gets_no_notify() -> None:
    h = Harness()
    _, ok = answered_call(h)
    h.ua.allow_refer = True
    h.feed(peer_request(ok, "REFER", 3, branch="z9hG4bKr",
                        headers=[("Refer-To", "<sip:1003@pbx.test>"),
                                 ("Refer-Sub", "false")]))  # fmt: skip
    resp = h.one().resp
    assert resp.status == 202 and resp.headers.get("Refer-Sub") == "false"
    assert len(h.events()) == 1
    h.ua.notify_refer("c1", 200, "OK", h.now)
    assert h.sent() == []
