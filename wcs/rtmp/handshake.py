"""The plain RTMP handshake, client side (spec 5.2): C0 C1 → S0 S1 → C2 → S2.

Version 3, zero "version" field in C1 (no Flash digest scheme), random bytes. Like
nginx-rtmp, S2 is not required to echo C1 exactly: some servers put their own time in it.
Whether it matched is reported (``s2_echo_ok``) and never fails the handshake.
"""

from __future__ import annotations

import os
import struct
from enum import Enum

from .errors import RtmpError

VERSION = 3
HANDSHAKE_SIZE = 1536


class HandshakeState(Enum):
    START = "start"
    WAIT_S0S1 = "wait_s0s1"
    WAIT_S2 = "wait_s2"
    DONE = "done"


class ClientHandshake:
    """Feed server bytes with :meth:`receive`; send what :meth:`start` and :meth:`receive`
    return. Bytes after S2 (the server's first chunks) are kept in :attr:`leftover`."""

    def __init__(self, epoch_ms: int = 0, random_bytes: bytes | None = None) -> None:
        self.state = HandshakeState.START
        self._epoch = epoch_ms & 0xFFFFFFFF
        rnd = random_bytes if random_bytes is not None else os.urandom(HANDSHAKE_SIZE - 8)
        if len(rnd) != HANDSHAKE_SIZE - 8:
            raise ValueError("random_bytes must be 1528 bytes")
        self.c1 = struct.pack(">II", self._epoch, 0) + rnd
        self._buf = bytearray()
        self.server_version = 0
        self.s1 = b""
        self.s2_echo_ok = False
        self.leftover = b""

    def start(self) -> bytes:
        """C0 + C1."""
        if self.state is not HandshakeState.START:
            raise RtmpError("handshake already started")
        self.state = HandshakeState.WAIT_S0S1
        return bytes([VERSION]) + self.c1

    def receive(self, data: bytes, now_ms: int = 0) -> bytes:
        """Process server bytes; returns C2 once S1 is complete, else b''."""
        if self.state is HandshakeState.DONE:
            raise RtmpError("handshake already complete")
        if self.state is HandshakeState.START:
            raise RtmpError("server bytes before C0/C1 were sent")
        self._buf += data
        out = b""
        if self.state is HandshakeState.WAIT_S0S1:
            if len(self._buf) < 1 + HANDSHAKE_SIZE:
                if self._buf and self._buf[0] != VERSION:
                    raise RtmpError(f"server RTMP version {self._buf[0]}, expected {VERSION}")
                return b""
            self.server_version = self._buf[0]
            if self.server_version != VERSION:
                raise RtmpError(f"server RTMP version {self.server_version}, expected {VERSION}")
            self.s1 = bytes(self._buf[1 : 1 + HANDSHAKE_SIZE])
            del self._buf[: 1 + HANDSHAKE_SIZE]
            # C2 echoes S1: its time, then our read time, then its random bytes.
            out = self.s1[:4] + struct.pack(">I", now_ms & 0xFFFFFFFF) + self.s1[8:]
            self.state = HandshakeState.WAIT_S2
        if self.state is HandshakeState.WAIT_S2 and len(self._buf) >= HANDSHAKE_SIZE:
            s2 = bytes(self._buf[:HANDSHAKE_SIZE])
            self.s2_echo_ok = s2[8:] == self.c1[8:]
            self.leftover = bytes(self._buf[HANDSHAKE_SIZE:])
            self._buf.clear()
            self.state = HandshakeState.DONE
        return out
