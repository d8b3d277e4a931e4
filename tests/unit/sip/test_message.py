from __future__ import annotations

import pytest

from wcs.sip.framer import StreamFramer
from wcs.sip.message import (
    Headers,
    SipParseError,
    SipRequest,
    SipResponse,
    masked,
    parse_message,
)
from wcs.sip.uri import NameAddr, SipUri
from wcs.sip.via import Via

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'To: "Bob" <sip:bob@biloxi.example.com>\r\n'
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


def test_parse_request_basic() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, SipRequest)
    assert msg.method == "INVITE"
    assert msg.uri == "sip:bob@biloxi.example.com"
    assert msg.call_id == "a84b4c76e66710"
    assert msg.cseq == (314159, "INVITE")
    assert msg.body == b"v=0\n"
    assert msg.top_via.branch == "z9hG4bKnashds8"
    assert NameAddr.parse(msg.headers.get("from") or "").tag == "1928301774"


def test_round_trip_stable() -> None:
    msg = parse_message(INVITE)
    once = msg.serialize()
    again = parse_message(once)
    assert again == msg
    assert again.serialize() == once


def test_compact_forms_and_lf_only() -> None:
    data = (
        b"\r\n\r\nBYE sip:a@h SIP/2.0\n"
        b"v: SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bKa\n"
        b"f: <sip:x@h>;tag=1\nt: <sip:a@h>;tag=2\ni: cid\nCSeq: 2 BYE\n"
        b"m: <sip:x@10.0.0.1>\nk: timer\nx: 1800;refresher=uac\nc: text/plain\nl: 0\n\n"
    )
    msg = parse_message(data)
    assert msg.headers.get("Call-ID") == "cid"
    assert msg.headers.get("contact") == "<sip:x@10.0.0.1>"
    assert msg.headers.get("Session-Expires") == "1800;refresher=uac"
    assert msg.headers.get("Supported") == "timer"
    assert msg.headers.get("Content-Type") == "text/plain"
    names = [n for n, _ in msg.headers]
    assert names[:4] == ["Via", "From", "To", "Call-ID"]
    assert b"\r\nCall-ID: cid\r\n" in msg.serialize()


def test_folding_joins_lines() -> None:
    data = (
        b"OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        b"Subject: I know you're there,\r\n   pick up the phone\r\n\tand talk to me!\r\n"
        b"From: <sip:a@h>;tag=1\r\nTo: <sip:h>\r\n"
        b"Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    msg = parse_message(data)
    assert msg.headers.get("subject") == "I know you're there, pick up the phone and talk to me!"


def test_multi_valued_split_respects_quotes_and_brackets() -> None:
    h = Headers()
    h.add("Contact", '"Doe, John" <sip:j@h;a=1,2>;q=0.5, <sip:k@h>')
    h.add("Route", "<sip:p1;lr>,<sip:p2;lr>")
    h.add("route", "<sip:p3;lr>")
    h.add("WWW-Authenticate", 'Digest realm="a", nonce="b"')
    h.add("Allow", "INVITE, ACK,BYE")
    assert h.get_all("Contact") == ['"Doe, John" <sip:j@h;a=1,2>;q=0.5', "<sip:k@h>"]
    assert h.get_all("Route") == ["<sip:p1;lr>", "<sip:p2;lr>", "<sip:p3;lr>"]
    assert h.get_all("WWW-Authenticate") == ['Digest realm="a", nonce="b"']
    assert h.get_all("allow") == ["INVITE", "ACK", "BYE"]


def test_headers_set_remove_insert() -> None:
    h = Headers([("Via", "a"), ("X-Foo", "1"), ("via", "b")])
    h.insert("v", "top")
    assert h.get_all("Via") == ["top", "a", "b"]
    h.set("Via", "only")
    assert h.get_all("Via") == ["only"]
    h.remove("x-foo")
    assert "X-Foo" not in h
    assert len(h) == 1


_IDS = (
    b"Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\n"
    b"Call-ID: c\r\n"
)


def test_content_length_cuts_body_and_missing_means_rest() -> None:
    head = b"SIP/2.0 200 OK\r\n" + _IDS + b"CSeq: 1 INVITE\r\n"
    msg = parse_message(head + b"Content-Length: 2\r\n\r\nabcdef")
    assert msg.body == b"ab"
    msg = parse_message(head + b"\r\nabcdef")
    assert msg.body == b"abcdef"
    with pytest.raises(SipParseError, match="Content-Length"):
        parse_message(head + b"\r\nabc", stream=True)


def test_serialize_always_writes_content_length() -> None:
    msg = SipResponse(200, "OK", Headers([("CSeq", "1 BYE"), ("Content-Length", "99")]), b"xy")
    data = msg.serialize()
    assert data.count(b"Content-Length") == 1
    assert b"Content-Length: 2\r\n\r\nxy" in data
    msg2 = SipRequest("OPTIONS", "sip:h", Headers([("CSeq", "1 OPTIONS")]))
    assert msg2.serialize().endswith(b"Content-Length: 0\r\n\r\n")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"HELLO\r\n\r\n", "start line"),
        (b"INVITE sip:a@b SIP/3.0\r\n\r\n", "version"),
        (b"SIP/2.0 999 Huh\r\n\r\n", "status"),
        (b"INVITE sip:a@b SIP/2.0\r\nNoColonHere\r\n\r\n", "header line"),
        (b"INVITE sip:a@b SIP/2.0\r\n continuation\r\n\r\n", "continuation"),
        (b"INVITE sip:a@b SIP/2.0\r\nContent-Length: x\r\n\r\n", "Content-Length"),
        (b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\nab", "larger"),
        (b"INVITE nocolon SIP/2.0\r\n\r\n", "Request-URI"),
    ],
)
def test_malformed_raises_clear_error(data: bytes, match: str) -> None:
    with pytest.raises(SipParseError, match=match):
        parse_message(data)


def test_bad_cseq_is_reported() -> None:
    with pytest.raises(SipParseError, match="CSeq") as info:
        parse_message(b"OPTIONS sip:h SIP/2.0\r\n" + _IDS + b"CSeq: abc\r\n\r\n")
    # the partially parsed request rides on the error, for the UA's 400
    assert isinstance(info.value.partial, SipRequest) and info.value.partial.call_id == "c"


def test_masked_hides_credentials() -> None:
    msg = SipRequest("REGISTER", "sip:h", Headers([("Authorization", 'Digest response="s3"')]))
    msg.headers.add("Proxy-Authorization", 'Digest response="s4"')
    text = masked(msg)
    assert "s3" not in text and "s4" not in text
    assert "Authorization: <hidden>" in text


def test_uri_full() -> None:
    u = SipUri.parse("sips:alice:pw@[2001:db8::1]:5061;transport=tcp;lr?subject=x&h=y")
    assert (u.scheme, u.user, u.password, u.host, u.port) == (
        "sips",
        "alice",
        "pw",
        "[2001:db8::1]",
        5061,
    )
    assert u.params == {"transport": "tcp", "lr": None}
    assert u.headers == {"subject": "x", "h": "y"}
    assert str(u) == "sips:alice:pw@[2001:db8::1]:5061;transport=tcp;lr?subject=x&h=y"
    assert u.transport == "tcp"
    u2 = SipUri.parse("sip:127.0.0.1")
    assert (u2.user, u2.port, str(u2)) == (None, None, "sip:127.0.0.1")
    u3 = SipUri.parse("sip:+1234;phone-context=x@h.com")
    assert u3.user == "+1234;phone-context=x" and u3.host == "h.com"


@pytest.mark.parametrize(
    "text", ["http://x", "sip:", "sip:a@", "sip:h:99999", "sip:[::1", "sip:h:x", "sip:a b@h"]
)
def test_uri_malformed(text: str) -> None:
    with pytest.raises(SipParseError):
        SipUri.parse(text)


def test_name_addr_forms() -> None:
    a = NameAddr.parse('"Alice \\"A\\"" <sip:alice@h;transport=tcp>;tag=88;expires=60')
    assert a.display == 'Alice "A"'
    assert a.uri.params == {"transport": "tcp"}
    assert a.tag == "88"
    assert a.params["expires"] == "60"
    assert NameAddr.parse(str(a)) == a
    b = NameAddr.parse("sip:bob@h;tag=5")  # addr-spec: params belong to the header
    assert b.tag == "5" and b.uri.params == {}
    c = NameAddr.parse("Bob Smith <sip:bob@h>")
    assert c.display == "Bob Smith"
    with pytest.raises(SipParseError):
        NameAddr.parse("<sip:bob@h")


def test_via_parse() -> None:
    v = Via.parse("SIP / 2.0 / tcp 10.0.0.1 : 5070 ;branch=z9hG4bK1;received=1.2.3.4;rport=999")
    assert (v.transport, v.host, v.port) == ("TCP", "10.0.0.1", 5070)
    assert (v.branch, v.received, v.rport) == ("z9hG4bK1", "1.2.3.4", 999)
    assert v.response_address() == ("1.2.3.4", 999)
    assert str(v) == "SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bK1;received=1.2.3.4;rport=999"
    v6 = Via.parse("SIP/2.0/UDP [::1];branch=z9hG4bK2;rport")
    assert v6.response_address() == ("::1", 5060)
    with pytest.raises(SipParseError):
        Via.parse("SIP/1.0/UDP h")
    with pytest.raises(SipParseError):
        Via.parse("SIP/2.0/UDP h;rport=abc")


def test_stream_framer() -> None:
    f = StreamFramer()
    msg = parse_message(INVITE).serialize()
    assert f.feed(b"\r\n\r\n" + msg[:10]) == []
    out = f.feed(msg[10:] + b"\r\n" + msg + msg[:5])
    assert out == [msg, msg]
    assert f.pending == 5
    assert f.feed(msg[5:]) == [msg]
    with pytest.raises(SipParseError):
        StreamFramer().feed(b"OPTIONS sip:h SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n")


def test_trace_messages_round_trip() -> None:
    from pathlib import Path

    from wcs.pcap import read_pcap

    root = Path(__file__).resolve().parents[3] / "conformance" / "traces"
    count = 0
    for name in ("01-register.pcap", "02-call-av.pcap", "03-call-busy.pcap"):
        for pkt in read_pcap(root / name):
            if not pkt.payload.startswith((b"SIP/2.0", b"INVITE", b"ACK", b"BYE", b"REG")):
                continue
            msg = parse_message(pkt.payload)
            again = parse_message(msg.serialize())
            assert again == msg
            assert again.serialize() == msg.serialize()
            _ = msg.cseq, msg.top_via
            count += 1
    assert count >= 30


def _with_via(via_line: str) -> bytes:
    return (
        "OPTIONS sip:b@example.test SIP/2.0\r\n"
        f"Via: {via_line}\r\n"
        "From: <sip:a@example.test>;tag=1\r\nTo: <sip:b@example.test>\r\n"
        "Call-ID: v@example.test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_every_via_of_a_comma_list_is_checked() -> None:
    # Found by the UA fuzz: the second value lacked its protocol and would have been echoed
    # as a broken Via line in our response.
    good = "SIP/2.0/UDP h1;branch=z9hG4bK1, SIP/2.0/TCP h2:5062;branch=z9hG4bK2"
    assert len(parse_message(_with_via(good)).vias) == 2
    with pytest.raises(SipParseError, match="bad Via"):
        parse_message(_with_via("SIP/2.0/UDP 1,92.0.2.7:5062;branch=z9hG4bK-x"))
