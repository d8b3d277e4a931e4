from __future__ import annotations

import struct

import pytest

from wcs.rtmp.errors import RtmpError
from wcs.rtmp.handshake import HANDSHAKE_SIZE, ClientHandshake, HandshakeState

RND = bytes(i % 251 for i in range(HANDSHAKE_SIZE - 8))


def server_s1() -> bytes:
    return struct.pack(">II", 777, 0) + bytes(reversed(RND))


def test_c0_c1_layout() -> None:
    hs = ClientHandshake(epoch_ms=1234, random_bytes=RND)
    out = hs.start()
    assert len(out) == 1 + HANDSHAKE_SIZE
    assert out[0] == 3
    assert out[1:9] == struct.pack(">II", 1234, 0)  # time, then zero: plain handshake
    assert out[9:] == RND
    assert hs.state is HandshakeState.WAIT_S0S1


def test_full_exchange_in_pieces() -> None:
    hs = ClientHandshake(random_bytes=RND)
    c0c1 = hs.start()
    s1 = server_s1()
    s2 = c0c1[1:]  # a well-behaved server echoes C1
    stream = b"\x03" + s1 + s2 + b"\x02chunk"
    c2 = b""
    for i in range(0, len(stream), 500):
        c2 += hs.receive(stream[i : i + 500], now_ms=42)
    assert hs.state is HandshakeState.DONE
    assert c2 == s1[:4] + struct.pack(">I", 42) + s1[8:]  # echoes S1 with our read time
    assert hs.s2_echo_ok
    assert hs.leftover == b"\x02chunk"


def test_s2_that_does_not_echo_is_tolerated() -> None:
    hs = ClientHandshake(random_bytes=RND)
    hs.start()
    hs.receive(b"\x03" + server_s1() + bytes(HANDSHAKE_SIZE))
    assert hs.state is HandshakeState.DONE
    assert not hs.s2_echo_ok


def test_c2_is_sent_before_s2_arrives() -> None:
    hs = ClientHandshake(random_bytes=RND)
    hs.start()
    c2 = hs.receive(b"\x03" + server_s1())
    assert len(c2) == HANDSHAKE_SIZE and hs.state is HandshakeState.WAIT_S2


def test_wrong_version_fails_at_once() -> None:
    hs = ClientHandshake(random_bytes=RND)
    hs.start()
    with pytest.raises(RtmpError, match="version 6"):
        hs.receive(b"\x06")


def test_misuse() -> None:
    hs = ClientHandshake(random_bytes=RND)
    with pytest.raises(RtmpError):
        hs.receive(b"\x03")
    hs.start()
    with pytest.raises(RtmpError):
        hs.start()
