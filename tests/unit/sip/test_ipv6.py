"""IPv6 in SIP: bracketed hosts in Via/URIs (RFC 3261 §25.1, RFC 5118), bare addresses in
``received``, IPv4-mapped sources written as IPv4, and the UA's own Via/Contact on IPv6."""

from __future__ import annotations

import asyncio
import socket

import pytest

from wcs.sip.errors import SipParseError
from wcs.sip.message import parse_message
from wcs.sip.transport import SipTransport
from wcs.sip.ua import Account, UserAgent
from wcs.sip.uri import NameAddr, SipUri, canonical_host, format_hostport, same_host
from wcs.sip.via import Via

from .peer import Harness, reply


def test_via_sent_by_with_ipv6_parses_and_round_trips() -> None:
    v = Via.parse("SIP/2.0/TCP [2001:db8::1]:5062;branch=z9hG4bKa1;rport")
    assert (v.transport, v.host, v.port) == ("TCP", "[2001:db8::1]", 5062)
    assert str(v) == "SIP/2.0/TCP [2001:db8::1]:5062;branch=z9hG4bKa1;rport"
    # LWS around ':' is allowed in sent-by
    assert Via.parse("SIP/2.0/UDP [::1] : 5070;branch=z9hG4bKb").sent_by == ("[::1]", 5070)
    # a bare IPv6 address from an edge is bracketed when written
    assert str(Via("::1", 5060, params={"branch": "z9hG4bKc"})) == (
        "SIP/2.0/UDP [::1]:5060;branch=z9hG4bKc"
    )


@pytest.mark.parametrize(
    "sent_by", ["::1", "::1:5060", "[::1", "[::1]5060", "[::1]:x", "[::1]:70000"]
)
def test_via_sent_by_ipv6_without_brackets_or_broken_is_refused(sent_by: str) -> None:
    with pytest.raises(SipParseError):
        Via.parse(f"SIP/2.0/UDP {sent_by};branch=z9hG4bKx")


def test_received_and_rport_from_an_ipv6_source_are_bare() -> None:
    v = Via.parse("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKa;rport")
    v.stamp_received(("2001:db8::9", 40000))
    assert v.params["received"] == "2001:db8::9" and v.rport == 40000
    assert (
        str(v) == "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKa;rport=40000;received=2001:db8::9"
    )
    assert v.response_address() == ("2001:db8::9", 40000)
    # and it parses back
    assert Via.parse(str(v)).response_address() == ("2001:db8::9", 40000)


def test_received_is_left_out_for_the_same_address_spelt_differently() -> None:
    v = Via.parse("SIP/2.0/UDP [2001:DB8:0:0::1]:5060;branch=z9hG4bKa")
    v.stamp_received(("2001:db8::1", 5060))
    assert "received" not in v.params
    v.stamp_received(("2001:db8::2", 5060))
    assert v.params["received"] == "2001:db8::2"
    assert v.response_address() == ("2001:db8::2", 5060)


def test_an_ipv4_mapped_source_is_written_as_ipv4() -> None:
    v = Via.parse("SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKa;rport")
    v.stamp_received(("::ffff:192.0.2.4", 5099))
    assert v.params["received"] == "192.0.2.4" and v.rport == 5099
    plain = Via.parse("SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKb")
    plain.stamp_received(("::FFFF:192.0.2.4", 5060))
    assert "received" not in plain.params
    assert "::ffff:" not in str(v).lower()


def test_uris_with_ipv6_hostport() -> None:
    u = SipUri.parse("sip:1002@[::1]:5070;transport=tcp")
    assert (u.user, u.host, u.port, u.transport) == ("1002", "[::1]", 5070, "tcp")
    assert str(u) == "sip:1002@[::1]:5070;transport=tcp"
    assert str(SipUri.parse("sip:[2001:db8::5]")) == "sip:[2001:db8::5]"
    na = NameAddr.parse('"Bob" <sip:1002-0x55@[::1]:18668>;expires=600')
    assert na.uri.host == "[::1]" and na.uri.port == 18668 and na.params["expires"] == "600"
    # an edge's bare IPv6 host is bracketed on the wire, the port after the bracket
    assert str(SipUri(host="2001:db8::5", port=5060, user="a")) == "sip:a@[2001:db8::5]:5060"
    assert format_hostport("::1", None) == "[::1]"
    assert format_hostport("[::1]", 5060) == "[::1]:5060"
    assert format_hostport("127.0.0.1", 5060) == "127.0.0.1:5060"


@pytest.mark.parametrize("text", ["sip:a@::1", "sip:a@::1:5060", "sip:a@[::1]x", "sip:[::1"])
def test_uris_with_unbracketed_or_broken_ipv6_are_refused(text: str) -> None:
    with pytest.raises(SipParseError):
        SipUri.parse(text)


def test_host_comparison_is_canonical() -> None:
    assert same_host("[::1]", "0:0:0:0:0:0:0:1")
    assert same_host("[2001:DB8::1]", "2001:db8:0::1")
    assert same_host("::ffff:10.0.0.1", "10.0.0.1")
    assert same_host("Example.COM", "example.com")
    assert not same_host("[::1]", "127.0.0.1")
    assert canonical_host("[::1]") == "::1"


def ipv6_harness() -> Harness:
    return Harness(ua=UserAgent(local_port=5070, public_ip="2001:db8::1", user_agent="t"))


def test_ua_register_over_ipv6_brackets_via_contact_and_reaches_the_proxy() -> None:
    h = ipv6_harness()
    account = Account(
        login="1001", domain="sip.test", password="pw", outbound_proxy="[2001:db8::2]:5080"
    )
    h.ua.register(account, h.now)
    sent = h.one()
    assert sent.addr == ("2001:db8::2", 5080)  # bare for the socket
    req = sent.req
    via = req.headers.get("Via") or ""
    assert via.startswith("SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK"), via
    assert req.headers.get("Contact") == "<sip:1001@[2001:db8::1]:5070>"
    # the registrar answers with the contact written in another valid spelling
    h.feed(
        reply(req, 200, "OK", headers=[("Contact", "<sip:1001@[2001:DB8:0::1]:5070>;expires=90")]),
        ("2001:db8::2", 5080),
    )
    assert [type(e).__name__ for e in h.events()] == ["RegistrationSucceeded"]
    assert h.events() == []
    h.advance(44.0)  # refreshed at min(90/2, 90-32) = 45 s when 90 was understood
    assert h.sent() == []
    h.advance(45.0)
    assert h.one().req.method == "REGISTER"


@pytest.mark.parametrize("proxy", ["::1", "[::1]", "[::1]:5060", "sip:[::1]:5060"])
def test_outbound_proxy_ipv6_spellings(proxy: str) -> None:
    h = ipv6_harness()
    h.ua.register(Account(login="1001", domain="sip.test", outbound_proxy=proxy), h.now)
    assert h.one().addr == ("::1", 5060)


def test_request_from_an_ipv6_source_is_answered_there_with_received_rport() -> None:
    h = ipv6_harness()
    options = (
        b"OPTIONS sip:wcs@[2001:db8::1]:5070 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP [2001:db8::7]:5060;branch=z9hG4bKo1;rport\r\n"
        b"From: <sip:probe@[2001:db8::7]>;tag=p\r\nTo: <sip:wcs@[2001:db8::1]>\r\n"
        b"Call-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    h.feed(options, ("2001:db8::8", 40001))
    sent = h.one()
    assert sent.addr == ("2001:db8::8", 40001)
    via = sent.resp.headers.get("Via") or ""
    assert via == "SIP/2.0/UDP [2001:db8::7]:5060;branch=z9hG4bKo1;rport=40001;received=2001:db8::8"


# ---- the asyncio edge: "::1" and the dual-stack "::" ------------------------------------

OPTIONS = (
    "OPTIONS sip:wcs@{host} SIP/2.0\r\n"
    "Via: SIP/2.0/{t} {hostport};branch=z9hG4bKopt{n};rport\r\n"
    "From: <sip:probe@{host}>;tag=p\r\nTo: <sip:wcs@{host}>\r\n"
    "Call-ID: opt{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


async def _udp_options(family: socket.AddressFamily, ip: str, port: int, n: int) -> str:
    loop = asyncio.get_running_loop()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((ip, 0))
        sock.setblocking(False)
        me = sock.getsockname()[1]
        host = f"[{ip}]" if ":" in ip else ip
        data = OPTIONS.format(t="UDP", host=host, hostport=f"{host}:{me}", n=n).encode()
        await loop.sock_sendto(sock, data, (ip, port))
        got = await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
    return parse_message(got).headers.get("Via") or ""


def test_transport_on_ipv6_loopback_answers_udp_and_tcp() -> None:
    async def main() -> None:
        ua = UserAgent(local_port=0, public_ip="::1")
        edge = SipTransport(ua, "::1", 0, lambda ev: None)
        await edge.start()
        try:
            via = await _udp_options(socket.AF_INET6, "::1", edge.port, 1)
            assert ";received=::1" in via and "rport=" in via, via
            reader, writer = await asyncio.open_connection("::1", edge.port)
            writer.write(OPTIONS.format(t="TCP", host="[::1]", hostport="[::1]:1", n=2).encode())
            got = await asyncio.wait_for(reader.read(65535), 5)
            assert got.startswith(b"SIP/2.0 200 OK")
            writer.close()
        finally:
            await edge.close()

    asyncio.run(main())


def test_dual_stack_transport_takes_ipv4_without_mapped_addresses() -> None:
    async def main() -> None:
        ua = UserAgent(local_port=0, public_ip="127.0.0.1")
        edge = SipTransport(ua, "::", 0, lambda ev: None)
        await edge.start()
        try:
            via4 = await _udp_options(socket.AF_INET, "127.0.0.1", edge.port, 1)
            assert ";received=127.0.0.1" in via4 and "ffff" not in via4, via4
            via6 = await _udp_options(socket.AF_INET6, "::1", edge.port, 2)
            assert ";received=::1" in via6, via6
            # TCP over IPv4 reaches the "::" listener too (asyncio makes "::" IPv6-only)
            reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
            writer.write(
                OPTIONS.format(t="TCP", host="127.0.0.1", hostport="127.0.0.1:1", n=3).encode()
            )
            got = await asyncio.wait_for(reader.read(65535), 5)
            assert got.startswith(b"SIP/2.0 200 OK") and b"ffff" not in got
            writer.close()
        finally:
            await edge.close()

    asyncio.run(main())
