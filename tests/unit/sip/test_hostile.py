"""Issue 18 on the SIP side: hostile input gets Kamailio's answers, limits hold, logs stay quiet.

Core behaviour through the sans-IO UA (:class:`Harness`); connection limits and framing
through the real transport on loopback sockets (ports chosen at run time).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from wcs.limits import REJECTIONS, Quota
from wcs.sip.framer import StreamFramer
from wcs.sip.inbound import MALFORMED
from wcs.sip.message import SipResponse, parse_message
from wcs.sip.transport import SipTransport
from wcs.sip.ua import UserAgent

from .peer import Harness

GUARD = 5.0  # hang guard for reads, never an asserted duration


def options(uri: str = "sip:wcs@10.0.0.1", extra: str = "", n: int = 1) -> bytes:
    return (
        f"OPTIONS {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKhost{n}\r\n"
        "From: <sip:probe@10.0.0.9>;tag=p\r\nTo: <sip:wcs@10.0.0.1>\r\n"
        f"Call-ID: hostile{n}\r\nCSeq: 1 OPTIONS\r\n{extra}Content-Length: 0\r\n\r\n"
    ).encode()


def answer_to(data: bytes) -> SipResponse:
    h = Harness()
    h.feed(data)
    resp = h.one().resp
    return resp


def test_well_formed_options_still_gets_200() -> None:
    assert answer_to(options()).status == 200
    digest = (
        'Authorization: Digest username="u", realm="r", nonce="n", '
        'uri="sip:wcs@10.0.0.1", response="0123456789abcdef0123456789abcdef"\r\n'
    )
    assert answer_to(options(extra=digest)).status == 200


@pytest.mark.parametrize("uri", ["sip:@@:::99999999", "sip:x@h:99999", "sip:", "nocolon"])
def test_malformed_request_uri_gets_400(uri: str) -> None:
    resp = answer_to(options(uri))
    assert resp.status == 400, resp.start_line()


@pytest.mark.parametrize(
    "value",
    [
        'Digest username="unterminated',
        "Digest =x",
        'Digest username="u"',  # no realm, nonce, uri, response
        '"""',
    ],
)
def test_malformed_authorization_gets_400(value: str) -> None:
    for header in ("Authorization", "Proxy-Authorization"):
        resp = answer_to(options(extra=f"{header}: {value}\r\n"))
        assert resp.status == 400, (header, value, resp.start_line())


def test_malformed_datagrams_are_counted_and_logged_at_debug_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = MALFORMED.value
    h = Harness()
    with caplog.at_level(logging.INFO, logger="wcs.sip"):
        for n in range(50):
            h.feed(b"\x00garbage %d\r\n\r\n" % n)
            h.feed(options("sip:@@:::99999999", n=n))
    assert MALFORMED.value - before == 100
    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []


def test_framer_returns_the_message_before_unframeable_bytes() -> None:
    f = StreamFramer()
    garbage = b"NOT SIP AT ALL\r\n\r\n"
    out = f.feed(options() + garbage)
    assert out == [options()]
    assert f.error is not None
    with pytest.raises(ValueError):
        f.feed(options())  # the stream is over


async def _read_messages(reader: asyncio.StreamReader) -> list[bytes]:
    framer = StreamFramer()
    out: list[bytes] = []
    while data := await asyncio.wait_for(reader.read(65535), GUARD):
        out += framer.feed(data)
    return out  # up to EOF


def _tcp_options(port: int, n: int) -> bytes:
    return (
        f"OPTIONS sip:wcs@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bKt{n}\r\n"
        "From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:wcs@127.0.0.1>\r\n"
        f"Call-ID: tcp{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def run_with_edge(body: Callable[[SipTransport], Awaitable[None]], **kw: Any) -> None:
    """``body(edge)`` with a started transport on loopback (port chosen by the kernel)."""

    async def main() -> None:
        ua = UserAgent(local_port=0, public_ip="127.0.0.1")
        edge = SipTransport(ua, "127.0.0.1", 0, lambda ev: None, **kw)
        await edge.start()
        try:
            await body(edge)
        finally:
            await edge.close()

    asyncio.run(main())


def test_valid_message_then_garbage_in_one_read_is_answered_then_closed() -> None:
    async def body(edge: SipTransport) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
        writer.write(_tcp_options(1, 1) + b"\x16\x03\x01 garbage without a head end")
        writer.write(b"\r\n\r\n")
        msgs = await _read_messages(reader)  # ends: the server closed
        assert [parse_message(m).start_line() for m in msgs] == ["SIP/2.0 200 OK"]
        writer.close()

    run_with_edge(body)


def test_tcp_connections_per_ip_are_limited_and_counted() -> None:
    quota = Quota("test_sip_tcp", total=10, per_key=2)
    before = REJECTIONS.labels("test_sip_tcp_per_ip").value

    async def body(edge: SipTransport) -> None:
        kept = [await asyncio.open_connection("127.0.0.1", edge.port) for _ in range(2)]
        for n, (reader, writer) in enumerate(kept):
            writer.write(_tcp_options(1, n))
            got = await asyncio.wait_for(reader.read(65535), GUARD)
            assert got.startswith(b"SIP/2.0 200 OK")
        reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
        assert await asyncio.wait_for(reader.read(100), GUARD) == b""  # closed at once
        writer.close()
        assert REJECTIONS.labels("test_sip_tcp_per_ip").value == before + 1
        assert quota.used == 2
        for _, w in kept:
            w.close()
        for _ in range(100):
            if quota.used == 0:
                break
            await asyncio.sleep(0.02)
        assert quota.used == 0 and edge.connections == 0

    run_with_edge(body, quota=quota)


def test_idle_accepted_connection_is_closed_but_a_talking_one_is_not() -> None:
    async def body(edge: SipTransport) -> None:
        idle_r, idle_w = await asyncio.open_connection("127.0.0.1", edge.port)
        busy_r, busy_w = await asyncio.open_connection("127.0.0.1", edge.port)
        # the busy one keeps talking (CRLF keep-alives) until the idle one is closed
        closed = asyncio.create_task(idle_r.read(100))
        n = 0
        while not closed.done():
            n += 1
            busy_w.write(b"\r\n\r\n")
            await asyncio.wait([closed], timeout=0.1)
            assert n < 10 * 60, "idle connection never closed"  # hang guard
        assert closed.result() == b""
        busy_w.write(_tcp_options(1, 9))
        got = await asyncio.wait_for(busy_r.read(65535), GUARD)
        assert got.startswith(b"SIP/2.0 200 OK")
        idle_w.close()
        busy_w.close()

    run_with_edge(body, accepted_idle_timeout=0.4)


def test_listening_sockets_are_closed_with_the_transport() -> None:
    ports: list[int] = []

    async def body(edge: SipTransport) -> None:
        ports.append(edge.port)

    run_with_edge(body)
    probe = socket.socket()
    with pytest.raises(OSError):
        probe.connect(("127.0.0.1", ports[0]))
    probe.close()
