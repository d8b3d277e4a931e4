from __future__ import annotations

from wcs.sip.dialog import Dialog
from wcs.sip.message import Headers, SipRequest, SipResponse
from wcs.sip.uri import NameAddr


def invite() -> SipRequest:
    h = Headers()
    h.add("Via", "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKd")
    h.add("From", '"A" <sip:a@h>;tag=ours')
    h.add("To", "<sip:b@h>")
    h.add("Call-ID", "dlg")
    h.add("CSeq", "7 INVITE")
    return SipRequest("INVITE", "sip:b@h", h)


def ok(record_route: list[str], contact: str = "<sip:b@10.0.0.3:5080>") -> SipResponse:
    h = Headers()
    h.add("Via", "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKd")
    for rr in record_route:
        h.add("Record-Route", rr)
    h.add("From", '"A" <sip:a@h>;tag=ours')
    h.add("To", "<sip:b@h>;tag=theirs")
    h.add("Call-ID", "dlg")
    h.add("CSeq", "7 INVITE")
    h.add("Contact", contact)
    return SipResponse(200, "OK", h)


def test_uac_dialog_route_set_is_reversed_and_requests_loose_routed() -> None:
    d = Dialog.from_uac(invite(), ok(["<sip:p2.example;lr>, <sip:p1.example;lr>"]))
    assert d.id == ("dlg", "ours", "theirs")
    assert [str(r.uri) for r in d.route_set] == ["sip:p1.example;lr", "sip:p2.example;lr"]
    assert str(d.next_hop()) == "sip:p1.example;lr"
    ack = d.ack(7)
    assert ack.uri == "sip:b@10.0.0.3:5080" and ack.cseq == (7, "ACK")
    assert ack.headers.get_all("Route") == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert d.local_seq == 7  # the ACK does not use a new CSeq
    bye = d.request("BYE")
    assert bye.cseq == (8, "BYE")
    assert NameAddr.parse(bye.headers.get("To") or "").tag == "theirs"
    assert NameAddr.parse(bye.headers.get("From") or "").tag == "ours"
    assert bye.headers.get("Max-Forwards") == "70"


def test_strict_router_goes_in_request_uri() -> None:
    d = Dialog.from_uac(invite(), ok(["<sip:strict.example>"]))
    bye = d.request("BYE")
    assert bye.uri == "sip:strict.example"
    assert bye.headers.get_all("Route") == ["<sip:b@10.0.0.3:5080>"]


def test_no_route_set_and_target_refresh() -> None:
    d = Dialog.from_uac(invite(), ok([]))
    assert d.request("INFO").headers.get_all("Route") == []
    h = Headers([("Contact", "<sip:b@10.0.0.9:6000>")])
    d.update_target(SipRequest("INVITE", "sip:a@h", h))
    assert str(d.next_hop()) == "sip:b@10.0.0.9:6000"
    d.update_target(SipRequest("INVITE", "sip:a@h", Headers([("Contact", "garbage<")])))
    assert str(d.remote_target) == "sip:b@10.0.0.9:6000"


def test_remote_cseq_ordering() -> None:
    d = Dialog.from_uac(invite(), ok([]))
    assert d.check_remote_seq(5)
    assert d.check_remote_seq(6)
    assert not d.check_remote_seq(6)
    assert not d.check_remote_seq(2)
