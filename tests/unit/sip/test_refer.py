"""Blind transfer: REFER headers, NOTIFY sipfrag / Subscription-State parsing, and the
progress a transfer reports (RFC 3515, RFC 4488, RFC 3420)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wcs.sip.refer import (
    ACCEPTED,
    COMPLETED,
    FAILED,
    TRYING,
    ReferError,
    SipFrag,
    SubscriptionState,
    TransferProgress,
    TransferTracker,
    parse_refer_to,
    parse_sipfrag,
    parse_subscription_state,
    refer_headers,
    transfer_target,
)
from wcs.sip.uri import NameAddr, SipUri

FRAG = "message/sipfrag;version=2.0"


@pytest.mark.parametrize(
    ("target", "uri"),
    [
        ("1003", "sip:1003@pbx.local"),
        (" 1003@other.example ", "sip:1003@other.example"),
        ("sip:1003@10.0.0.1:5070;transport=tcp", "sip:1003@10.0.0.1:5070;transport=tcp"),
        ("SIPS:alice@example.com", "sips:alice@example.com"),
    ],
)
def test_transfer_target(target: str, uri: str) -> None:
    assert str(transfer_target(target, "pbx.local")) == uri


@pytest.mark.parametrize(
    ("target", "domain"),
    [
        ("", "pbx"),
        ("1003", None),
        ("<sip:1003@pbx>", "pbx"),
        ("10 03", "pbx"),
        ("sip:", "pbx"),
        ("http://x", "pbx"),
        ("sip:1003:secret@pbx", "pbx"),
        ("1003\r\nX-Evil: 1", "pbx"),
    ],
)
def test_transfer_target_refused(target: str, domain: str | None) -> None:
    with pytest.raises(ReferError, match="target"):
        transfer_target(target, domain)


def test_refer_headers() -> None:
    me = SipUri.parse("sip:1001:secret@pbx.local")
    headers = refer_headers(transfer_target("1003", "pbx.local"), me)
    assert headers == [
        ("Refer-To", "<sip:1003@pbx.local>"),
        ("Referred-By", "<sip:1001@pbx.local>"),
    ]
    assert me.password == "secret"  # the caller's URI is not changed
    named = NameAddr.parse('"Stream" <sip:1001@pbx.local>;tag=abc')
    h = dict(refer_headers(SipUri.parse("sip:x@y"), named, subscribe=False))
    assert h["Referred-By"] == '"Stream" <sip:1001@pbx.local>'
    assert h["Refer-Sub"] == "false"
    with_params = SipUri.parse("sip:1003@pbx;transport=tcp")
    assert refer_headers(with_params)[0] == ("Refer-To", "<sip:1003@pbx;transport=tcp>")
    assert parse_refer_to(refer_headers(with_params)[0][1]) == with_params


def test_parse_refer_to_refused() -> None:
    with pytest.raises(ReferError):
        parse_refer_to("<nonsense")


@pytest.mark.parametrize(
    ("body", "frag"),
    [
        (b"SIP/2.0 100 Trying\r\n", SipFrag(100, "Trying")),
        (b"SIP/2.0 200 OK", SipFrag(200, "OK")),
        (b"SIP/2.0 180 Ringing\r\nContact: <sip:x@y>\r\n\r\n", SipFrag(180, "Ringing")),
        (b"\r\nsip/2.0 486 Busy Here\r\n", SipFrag(486, "Busy Here")),
        (b"SIP/2.0 503\r\n", SipFrag(503, "")),
    ],
)
def test_parse_sipfrag(body: bytes, frag: SipFrag) -> None:
    assert parse_sipfrag(body) == frag


@pytest.mark.parametrize(
    "body",
    [b"", b"hello", b"INVITE sip:x@y SIP/2.0", b"SIP/2.0 99 Low", b"SIP/2.0 700 High", b"x" * 5000],
)
def test_parse_sipfrag_refused(body: bytes) -> None:
    with pytest.raises(ReferError):
        parse_sipfrag(body)


def test_parse_subscription_state() -> None:
    assert parse_subscription_state("active;expires=60") == SubscriptionState("active", None, 60)
    s = parse_subscription_state(" Terminated ; reason=noresource")
    assert s == SubscriptionState("terminated", "noresource", None)
    assert s.terminated
    with pytest.raises(ReferError):
        parse_subscription_state(";expires=3")


def test_happy_transfer() -> None:
    t = TransferTracker()
    assert t.on_refer_response(100) is None
    assert t.on_refer_response(202, "Accepted") == TransferProgress(
        ACCEPTED, 202, "Accepted", False
    )
    code, p = t.on_notify("refer", "active;expires=60", FRAG, b"SIP/2.0 100 Trying\r\n")
    assert (code, p) == (200, TransferProgress(TRYING, 100, "Trying", False))
    code, p = t.on_notify("refer;id=93809824", "active", FRAG, b"SIP/2.0 180 Ringing")
    assert p is not None and p.status == TRYING
    code, p = t.on_notify("refer", "terminated;reason=noresource", FRAG, b"SIP/2.0 200 OK\r\n")
    assert (code, p) == (200, TransferProgress(COMPLETED, 200, "OK", True))
    assert t.final
    # A repeated NOTIFY after the outcome is answered but reports nothing new.
    assert t.on_notify("refer", "terminated", FRAG, b"SIP/2.0 200 OK") == (200, None)


def test_refer_refused() -> None:
    t = TransferTracker()
    assert t.on_refer_response(403, "Forbidden") == TransferProgress(FAILED, 403, "Forbidden", True)
    assert t.final
    assert t.on_refer_response(202) is None


def test_target_busy() -> None:
    t = TransferTracker()
    t.on_refer_response(202)
    _, p = t.on_notify("refer", "terminated", FRAG, b"SIP/2.0 486 Busy Here")
    assert p == TransferProgress(FAILED, 486, "Busy Here", True)


def test_subscription_ends_before_an_answer() -> None:
    t = TransferTracker()
    t.on_refer_response(202)
    t.on_notify("refer", "active", FRAG, b"SIP/2.0 100 Trying")
    _, p = t.on_notify("refer", "terminated;reason=timeout", FRAG, b"SIP/2.0 180 Ringing")
    assert p == TransferProgress(FAILED, 180, "timeout", True)
    t2 = TransferTracker()
    t2.on_refer_response(202)
    assert t2.on_notify("refer", "terminated;reason=rejected", None, b"") == (
        200,
        TransferProgress(FAILED, 0, "rejected", True),
    )


def test_norefersub() -> None:
    t = TransferTracker()
    p = t.on_refer_response(200, "OK", refer_sub="false")
    assert p is not None and p.status == COMPLETED and p.final
    assert not t.subscribed


def test_bad_notify_answers() -> None:
    t = TransferTracker()
    t.on_refer_response(202)
    assert t.on_notify("presence", "active", FRAG, b"SIP/2.0 200 OK") == (489, None)
    assert t.on_notify(None, "active", FRAG, b"SIP/2.0 200 OK") == (489, None)
    assert t.on_notify("refer", None, FRAG, b"SIP/2.0 200 OK") == (400, None)
    assert t.on_notify("refer", "active", "text/plain", b"SIP/2.0 200 OK") == (415, None)
    assert t.on_notify("refer", "active", FRAG, b"garbage") == (400, None)
    assert t.on_notify("refer", "active", FRAG, b"") == (200, None)  # no body: no news
    assert not t.final  # none of it changed the transfer


@given(body=st.binary(max_size=300), state=st.text(max_size=40))
def test_any_notify_is_answered(body: bytes, state: str) -> None:
    t = TransferTracker()
    t.on_refer_response(202)
    code, _ = t.on_notify("refer", state, FRAG, body)
    assert code in (200, 400)
