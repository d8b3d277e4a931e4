"""Soak, SIP part: mutated messages at a live server over UDP and TCP (``bench.soak``), and
a SIP sink that rejects every INVITE with 486, so calls made by the REST fuzzer end at once
instead of holding media ports until Timer B.

The mutations are :func:`conformance.fuzzing.mutate` over the fuzz seeds, drawn from a
seeded ``random.Random``. Every Via of a seed is first rewritten to our own socket with
``rport``: whatever the server answers comes back to us, never to a port of another
process on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import socket
from dataclasses import dataclass

from conformance.fuzzing import SEEDS, mutate
from wcs.sip.message import Headers, SipParseError, SipRequest, SipResponse, parse_message

BURST = 20  # datagrams between two yields: the server's socket buffer must not overflow
BURST_PAUSE = 0.005
TCP_BATCH = 20  # mutated messages per TCP connection
_VIA = re.compile(rb"^(?:via|v)[ \t]*:[^\r\n]*", re.IGNORECASE | re.MULTILINE)
_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[^\r\n]*\r?\n", re.IGNORECASE | re.MULTILINE)


def aimed_seeds(port: int, framed: bool = False) -> list[bytes]:
    """The fuzz seeds, every Via replaced by one naming 127.0.0.1:``port`` with rport.
    ``framed``: with a true Content-Length, so that on TCP the server reads the messages
    one by one until a mutation breaks the framing (it then closes the connection)."""
    out = []
    for i, seed in enumerate(SEEDS):
        via = b"Via: SIP/2.0/UDP 127.0.0.1:%d;rport;branch=z9hG4bKsoak%d" % (port, i)
        msg = _VIA.sub(via, seed)
        if framed:
            head, sep, body = msg.partition(b"\r\n\r\n")
            if sep:
                head = _LENGTH.sub(b"", head + b"\r\n").rstrip(b"\r\n")
                msg = head + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        out.append(msg)
    return out


@dataclass
class SipSoak:
    udp_sent: int = 0
    tcp_sent: int = 0
    tcp_connections: int = 0
    tcp_errors: int = 0  # connect or write failed (the server may close a broken stream)
    answers_udp: int = 0  # datagrams the server sent back
    answered_tcp_bytes: int = 0


class _Counter(asyncio.DatagramProtocol):
    def __init__(self, result: SipSoak) -> None:
        self.result = result

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.result.answers_udp += 1


async def fuzz_sip(host: str, port: int, count: int, rng: random.Random) -> SipSoak:
    """``count`` mutated messages: half over UDP, half over TCP connections."""
    result = SipSoak()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Counter(result), local_addr=("127.0.0.1", 0)
    )
    try:
        local_port = transport.get_extra_info("sockname")[1]
        seeds = aimed_seeds(local_port)
        udp = count // 2
        for i in range(udp):
            transport.sendto(mutate(rng, seeds), (host, port))
            result.udp_sent += 1
            if i % BURST == BURST - 1:
                await asyncio.sleep(BURST_PAUSE)
        left = count - udp
        framed = aimed_seeds(local_port, framed=True)
        while left > 0:
            batch = [mutate(rng, framed) for _ in range(min(TCP_BATCH, left))]
            left -= len(batch)
            result.tcp_sent += len(batch)
            await _tcp_batch(host, port, batch, result)
        await asyncio.sleep(0.2)  # the last answers
    finally:
        transport.close()
    return result


async def _tcp_batch(host: str, port: int, batch: list[bytes], result: SipSoak) -> None:
    result.tcp_connections += 1
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        result.tcp_errors += 1
        return
    try:
        for i, msg in enumerate(batch):
            if writer.is_closing():
                break
            writer.write(msg)
            if i % BURST == BURST - 1:
                await writer.drain()
        await writer.drain()
        writer.write_eof()
        # Read what the server answers until it closes or goes quiet.
        while True:
            try:
                data = await asyncio.wait_for(reader.read(65536), 0.2)
            except TimeoutError:
                break
            if not data:
                break
            result.answered_tcp_bytes += len(data)
    except OSError:
        result.tcp_errors += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class BusySink(asyncio.DatagramProtocol):
    """A UDP SIP endpoint that answers INVITE with 486 and any other request with 200."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.invites = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            msg = parse_message(data)
        except SipParseError:
            return
        if not isinstance(msg, SipRequest) or msg.method == "ACK" or self.transport is None:
            return
        h = Headers()
        h.set_all("Via", msg.headers.get_all("Via"))
        for name in ("From", "Call-ID", "CSeq"):
            h.add(name, msg.headers.get(name) or "")
        to = msg.headers.get("To") or ""
        h.add("To", to if "tag=" in to else f"{to};tag=busysink")
        h.add("Content-Length", "0")
        status, reason = (486, "Busy Here") if msg.method == "INVITE" else (200, "OK")
        self.invites += msg.method == "INVITE"
        self.transport.sendto(SipResponse(status, reason, h).serialize(), addr)


async def start_busy_sink() -> tuple[BusySink, int]:
    loop = asyncio.get_running_loop()
    transport, sink = await loop.create_datagram_endpoint(
        BusySink, local_addr=("127.0.0.1", 0), family=socket.AF_INET
    )
    return sink, transport.get_extra_info("sockname")[1]
