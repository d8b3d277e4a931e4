from __future__ import annotations

from wcs.sip.events import RegistrationEnded, RegistrationFailed, RegistrationSucceeded
from wcs.sip.ua import Account

from .peer import ACCOUNT, CHALLENGE, PROXY, Harness, reply


def ok_for(req_contact: str, expires: int) -> list[tuple[str, str]]:
    return [("Contact", f"{req_contact};expires={expires}")]


def test_register_with_digest_then_refresh_and_unregister() -> None:
    h = Harness()
    reg_id = h.ua.register(ACCOUNT, h.now)
    first = h.one()
    req = first.req
    assert first.addr == PROXY
    assert req.method == "REGISTER" and req.uri == "sip:10.0.0.2"
    assert req.headers.get("Expires") == "600"
    assert req.headers.get("Contact") == "<sip:1001@10.0.0.1:5070>"
    assert "sip:1001@10.0.0.2" in (req.headers.get("To") or "")
    h.feed(reply(req, 401, "Unauthorized", headers=[("WWW-Authenticate", CHALLENGE)]))
    req2 = h.one().req
    assert req2.call_id == req.call_id and req2.cseq[0] == req.cseq[0] + 1
    authz = req2.headers.get("Authorization") or ""
    assert 'username="1001"' in authz and 'uri="sip:10.0.0.2"' in authz
    assert "secret1001" not in authz
    h.feed(reply(req2, 200, "OK", headers=ok_for("<sip:1001@10.0.0.1:5070>", 120)))
    assert h.events() == [RegistrationSucceeded(reg_id, 120)]
    # refresh at min(expires/2, expires-32) = 60 s
    h.advance(59.9)
    assert h.sent() == []
    h.advance(60)
    refresh = h.one().req
    assert refresh.method == "REGISTER" and refresh.call_id == req.call_id
    assert refresh.cseq[0] == req2.cseq[0] + 1
    h.feed(reply(refresh, 200, "OK", headers=ok_for("<sip:1001@10.0.0.1:5070>", 600)))
    assert h.events() == [RegistrationSucceeded(reg_id, 600)]
    h.advance(h.now + 5)  # Timer K of the REGISTER transaction
    assert h.ua.get_timer() == 60 + 300
    h.ua.unregister(reg_id, h.now)
    un = h.one().req
    assert un.headers.get("Expires") == "0" and un.call_id == req.call_id
    h.feed(reply(un, 200, "OK"))
    assert h.events() == [RegistrationEnded(reg_id)]
    assert not h.ua.active()
    h.advance(1000)
    assert [s.req.method for s in h.sent()] == []


def test_register_refresh_short_expiry_and_expires_header() -> None:
    h = Harness()
    reg_id = h.ua.register(ACCOUNT, h.now)
    req = h.one().req
    h.feed(reply(req, 200, "OK", headers=[("Expires", "40")]))
    assert h.events() == [RegistrationSucceeded(reg_id, 40)]
    h.advance(5)  # Timer K of the REGISTER transaction
    assert h.ua.get_timer() == 8.0  # min(20, 40-32)


def test_register_forbidden_and_timeout() -> None:
    h = Harness()
    bad = Account(login="1099", domain="sip.test", password="x", outbound_proxy="127.0.0.1:5999")
    reg_id = h.ua.register(bad, h.now)
    sent = h.one()
    assert sent.addr == ("127.0.0.1", 5999) and sent.req.uri == "sip:sip.test"
    h.feed(reply(sent.req, 403, "Forbidden"))
    assert h.events() == [RegistrationFailed(reg_id, 403, "Forbidden", "Authentication failed")]
    reg2 = h.ua.register(ACCOUNT, h.now)
    h.advance(40)
    assert h.events() == [
        RegistrationFailed(reg2, None, "Request Timeout", "Failed by request timeout")
    ]
    assert not h.ua.active()


def test_register_423_retries_with_min_expires() -> None:
    h = Harness()
    reg_id = h.ua.register(ACCOUNT, h.now)
    req = h.one().req
    h.feed(reply(req, 423, "Interval Too Brief", headers=[("Min-Expires", "3600")]))
    req2 = h.one().req
    assert req2.headers.get("Expires") == "3600"
    h.feed(reply(req2, 200, "OK", headers=[("Expires", "3600")]))
    assert h.events() == [RegistrationSucceeded(reg_id, 3600)]


def test_unregister_while_registering_waits_for_the_answer() -> None:
    h = Harness()
    reg_id = h.ua.register(ACCOUNT, h.now)
    req = h.one().req
    h.ua.unregister(reg_id, h.now)
    assert h.sent() == []  # one REGISTER at a time per Call-ID
    h.feed(reply(req, 200, "OK", headers=[("Expires", "600")]))
    un = h.one().req
    assert un.headers.get("Expires") == "0"
    h.feed(reply(un, 200, "OK"))
    assert h.events() == [RegistrationSucceeded(reg_id, 600), RegistrationEnded(reg_id)]


def test_tcp_account_adds_transport_and_sends_over_tcp() -> None:
    h = Harness()
    acc = Account(login="1001", domain="10.0.0.2", transport="tcp")
    h.ua.register(acc, h.now)
    s = h.one()
    assert s.transport == "tcp" and s.req.uri == "sip:10.0.0.2;transport=tcp"
    assert s.req.headers.get("Contact") == "<sip:1001@10.0.0.1:5070;transport=tcp>"
    assert s.req.top_via.transport == "TCP"
    h.ua.invite("t1", acc, "sip:1002@example.org", b"v=0\r\n", h.now)
    inv = h.one()
    assert inv.transport == "tcp" and inv.req.uri == "sip:1002@example.org;transport=tcp"
    h.advance(10)
    assert h.sent() == []  # reliable: no retransmissions


def test_shutdown_hangs_up_and_unregisters() -> None:
    h = Harness()
    reg_id = h.ua.register(ACCOUNT, h.now)
    h.feed(reply(h.one().req, 200, "OK", headers=[("Expires", "600")]))
    h.ua.invite("c1", ACCOUNT, "1002", b"v=0\r\n", h.now)
    inv = h.one().req
    h.feed(reply(inv, 200, "OK", headers=[("Contact", "<sip:1002@10.0.0.3>")], body=b"v=0\r\n"))
    h.sent()
    h.events()
    h.ua.shutdown(h.now)
    out = {s.req.method: s.req for s in h.sent()}
    assert set(out) == {"BYE", "REGISTER"} and h.ua.active()
    h.feed(reply(out["BYE"], 200, "OK"))
    h.feed(reply(out["REGISTER"], 200, "OK"))
    assert not h.ua.active()
    assert RegistrationEnded(reg_id) in h.events()
