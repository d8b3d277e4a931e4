"""Message equality for round-trip tests: what a parse → serialize → parse must keep."""

from __future__ import annotations

from wcs.sip.message import SipMessage, SipRequest, SipResponse, parse_message
from wcs.sip.uri import NameAddr, SipUri


def semantic_view(msg: SipMessage) -> tuple[object, ...]:
    """Start line, headers in order, body. Content-Length is left out: the serializer
    rewrites it canonically (no leading zeros; added when absent), which is the point."""
    if isinstance(msg, SipRequest):
        start: tuple[object, ...] = ("request", msg.method, msg.uri, msg.version)
    else:
        assert isinstance(msg, SipResponse)
        start = ("response", msg.status, msg.reason, msg.version)
    headers = tuple((n, v) for n, v in msg.headers if n != "Content-Length")
    return (*start, headers, msg.body)


def assert_round_trip(msg: SipMessage) -> bytes:
    """Serialise, re-parse, compare; returns the wire form. Serialising is a fixed point."""
    wire = msg.serialize()
    again = parse_message(wire)
    assert semantic_view(again) == semantic_view(msg)
    assert again.headers.get("Content-Length") == str(len(again.body))
    assert again.serialize() == wire
    return wire


def touch_everything(msg: SipMessage) -> None:
    """Use every lazy accessor, as the user agent will; only SipParseError may come out."""
    _ = msg.cseq
    _ = msg.vias
    _ = msg.call_id
    for name in ("From", "To"):
        value = msg.headers.get(name)
        if value is not None:
            NameAddr.parse(value)
    for contact in msg.headers.get_all("Contact"):
        if contact != "*":
            NameAddr.parse(contact)
    if isinstance(msg, SipRequest):
        SipUri.parse(msg.uri)
