"""Bad input gets a clear error and crashes nothing (property tests)."""

from __future__ import annotations

import contextlib
import logging

from hypothesis import given, settings
from hypothesis import strategies as st

from wcs.sip.message import SipParseError, parse_message
from wcs.sip.ua import UserAgent
from wcs.sip.uri import NameAddr, SipUri
from wcs.sip.via import Via

from .test_message import INVITE

BYE = (
    b"BYE sip:1001@10.0.0.1:5070 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKf;rport\r\n"
    b"From: <sip:1002@h>;tag=x\r\nTo: <sip:1001@h>;tag=y\r\nCall-ID: f\r\n"
    b"CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    base = bytearray(draw(st.sampled_from([INVITE, BYE])))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.integers(0, 2))
        pos = draw(st.integers(0, len(base)))
        if op == 0 and pos < len(base):
            base[pos] = draw(st.integers(0, 255))
        elif op == 1:
            base[pos:pos] = draw(
                st.sampled_from([b";", b",", b"<", b">", b'"', b":", b"\r\n", b" "])
            )
        else:
            del base[pos : pos + draw(st.integers(1, 20))]
    return bytes(base)


@settings(max_examples=400, deadline=None)
@given(data=st.one_of(mutated(), st.binary(max_size=300)))
def test_parser_raises_only_sip_parse_error(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipParseError:
        return
    # what parses serializes to a fixpoint (serialize only adds a missing Content-Length)
    again = parse_message(msg.serialize())
    assert again.body == msg.body and again.start_line() == msg.start_line()
    assert parse_message(again.serialize()) == again
    for value in msg.headers.get_all("Via"):
        with contextlib.suppress(SipParseError):
            Via.parse(value)
    for name in ("From", "To", "Contact"):
        for value in msg.headers.get_all(name):
            with contextlib.suppress(SipParseError):
                NameAddr.parse(value)


@settings(max_examples=300, deadline=None)
@given(data=mutated())
def test_user_agent_survives_mutated_input(data: bytes) -> None:
    ua = UserAgent(local_port=5070, public_ip="10.0.0.1")
    errors: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = errors.append  # type: ignore[method-assign]
    logger = logging.getLogger("wcs.sip")
    logger.addHandler(handler)
    try:
        ua.receive(data, ("10.0.0.2", 5060), "udp", 0.0)
        ua.handle_timer(100.0)
    finally:
        logger.removeHandler(handler)
    assert errors == []  # no handler blew up (they are logged with log.exception)
    for out, _dest in ua.datagrams_to_send(0.0):
        parse_message(out)  # whatever we answer is well-formed


@given(st.text(max_size=60))
def test_uri_parser_never_crashes(text: str) -> None:
    try:
        uri = SipUri.parse(text)
    except SipParseError:
        return
    assert SipUri.parse(str(uri)) == uri
