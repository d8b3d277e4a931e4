"""Soak, media part: garbage RTP, RTCP, STUN and DTLS datagrams at a live call's media ports
and a live WebRTC viewer's ICE port (``bench.soak``).

Each datagram is drawn from a seeded ``random.Random``: well-formed headers with hostile
fields (the negotiated payload types, any SSRC, lengths that lie, padding past the end, CSRC
counts and extensions that do not fit), STUN with wrong credentials and broken attributes,
DTLS records and handshakes that do not parse, and plain random bytes.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

BURST = 20
BURST_PAUSE = 0.004
STUN_COOKIE = 0x2112A442


def bound_udp_ports(pid: int) -> set[int]:
    """The UDP ports (IPv4 and IPv6) the process ``pid`` has sockets bound to."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("udp", "udp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def _rtp(rng: random.Random) -> bytes:
    cc = rng.choice([0, 0, 0, 15, rng.randint(0, 15)])
    x = rng.random() < 0.2
    p = rng.random() < 0.1
    pt = rng.choice([0, 8, 96, 97, 101, 13, rng.randint(0, 127)])
    head = struct.pack(
        "!BBHII",
        0x80 | (p << 5) | (x << 4) | cc,
        (rng.random() < 0.3) << 7 | pt,
        rng.getrandbits(16),
        rng.getrandbits(32),
        rng.getrandbits(32),
    )
    body = rng.randbytes(rng.choice([0, 1, 3, 12, 60, 200, 1200]))
    if x:
        body = struct.pack("!HH", 0xBEDE, rng.getrandbits(16)) + body
    if p and body:
        body = body[:-1] + bytes([rng.randint(0, 255)])
    return head + body


def _rtcp(rng: random.Random) -> bytes:
    out = b""
    for _ in range(rng.randint(1, 3)):
        pt = rng.choice([200, 201, 202, 203, 204, 205, 206, rng.randint(192, 223)])
        words = rng.randint(0, 12)
        claimed = rng.choice([words, words, rng.getrandbits(16)])
        fmt = rng.randint(0, 31)
        out += struct.pack("!BBH", 0x80 | fmt, pt, claimed) + rng.randbytes(4 * words)
    return out[: rng.choice([len(out), len(out), rng.randint(0, len(out))])]


def _stun(rng: random.Random) -> bytes:
    attrs = b""
    for _ in range(rng.randint(0, 6)):
        kind = rng.choice([0x0006, 0x0008, 0x8028, 0x0024, 0x8029, 0x802A, 0x0025, 0x0020,
                           rng.getrandbits(16)])  # fmt: skip
        value = rng.randbytes(rng.choice([0, 4, 8, 20, rng.randint(0, 64)]))
        length = rng.choice([len(value), len(value), rng.getrandbits(16)])
        attrs += struct.pack("!HH", kind, length) + value + b"\0" * (-len(value) % 4)
    mtype = rng.choice([0x0001, 0x0101, 0x0111, 0x0011, rng.getrandbits(14)])
    length = rng.choice([len(attrs), len(attrs), rng.getrandbits(16)])
    return struct.pack("!HHI", mtype, length, STUN_COOKIE) + rng.randbytes(12) + attrs


def _dtls(rng: random.Random) -> bytes:
    ctype = rng.choice([20, 21, 22, 22, 23, rng.randint(20, 63)])
    version = rng.choice([b"\xfe\xfd", b"\xfe\xff", b"\x03\x03", rng.randbytes(2)])
    body = rng.randbytes(rng.choice([0, 1, 12, 60, 300]))
    if ctype == 22 and body and rng.random() < 0.5:  # a handshake header that lies
        body = bytes([1]) + struct.pack("!I", rng.getrandbits(32))[1:] + body
    length = rng.choice([len(body), len(body), rng.getrandbits(16)])
    head = bytes([ctype]) + version + struct.pack("!H", rng.getrandbits(16)) + rng.randbytes(6)
    return head + struct.pack("!H", length) + body


def _random(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(0, 1500))


KINDS: dict[str, Callable[[random.Random], bytes]] = {
    "rtp": _rtp, "rtcp": _rtcp, "stun": _stun, "dtls": _dtls, "random": _random,
}  # fmt: skip


@dataclass
class MediaSoak:
    sent: Counter[str] = field(default_factory=Counter)
    ports: list[int] = field(default_factory=list)
    send_errors: int = 0

    @property
    def total(self) -> int:
        return sum(self.sent.values())


async def fuzz_media(host: str, ports: list[int], count: int, rng: random.Random) -> MediaSoak:
    """``count`` garbage datagrams, spread over ``ports`` in turn."""
    result = MediaSoak(ports=sorted(ports))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    names = sorted(KINDS)
    try:
        for i in range(count):
            kind = rng.choice(names)
            data = KINDS[kind](rng)
            try:
                sock.sendto(data, (host, result.ports[i % len(result.ports)]))
            except OSError:  # ICMP port unreachable from an earlier datagram, ENOBUFS
                result.send_errors += 1
            result.sent[kind] += 1
            if i % BURST == BURST - 1:
                await asyncio.sleep(BURST_PAUSE)
                _drain(sock)
    finally:
        sock.close()
    return result


def _drain(sock: socket.socket) -> None:
    """Read what the server answered (STUN errors); only so the socket buffer stays empty."""
    while True:
        try:
            sock.recv(2048)
        except OSError:
            return
