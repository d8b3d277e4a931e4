"""Test helpers: an exp-Golomb bit writer, synthetic NAL units, an RTP header parser."""

from __future__ import annotations

import struct
from dataclasses import dataclass


class BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> BitWriter:
        self.bits.extend((value >> (n - 1 - i)) & 1 for i in range(n))
        return self

    def ue(self, value: int) -> BitWriter:
        v = value + 1
        n = v.bit_length()
        return self.u(n - 1, 0).u(n, v)

    def se(self, value: int) -> BitWriter:
        return self.ue(2 * value - 1 if value > 0 else -2 * value)

    def rbsp(self) -> bytes:
        bits = [*self.bits, 1]  # rbsp_stop_one_bit
        bits += [0] * (-len(bits) % 8)
        return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


def escape(rbsp: bytes) -> bytes:
    """Insert emulation prevention bytes (H.264 7.4.1)."""
    out = bytearray()
    zeros = 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


# Parameter sets of conformance/traces/02-call-av.pcap (baresip/ffmpeg, 352x288 baseline).
SPS = bytes.fromhex("6742c00dda05825a10000003001000000301e8f142aa00")
PPS = bytes.fromhex("68ce32c8")


def idr(size: int, first_mb0: bool = True, fill: int = 0xAB) -> bytes:
    """An IDR slice NAL unit; first_mb0 sets first_mb_in_slice == 0 (leading 1 bit)."""
    return bytes((0x65, 0x88 if first_mb0 else 0x08)) + bytes([fill]) * max(0, size - 2)


def pslice(size: int, first_mb0: bool = True, fill: int = 0xCD) -> bytes:
    return bytes((0x41, 0x9A if first_mb0 else 0x1A)) + bytes([fill]) * max(0, size - 2)


@dataclass(frozen=True, slots=True)
class Rtp:
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes) -> Rtp:
    """RFC 3550 header: 12 bytes, CSRCs, header extension, padding."""
    if len(data) < 12 or data[0] >> 6 != 2:
        raise ValueError("not RTP")
    b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
    pos = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        ext_words = struct.unpack("!H", data[pos + 2 : pos + 4])[0]
        pos += 4 + 4 * ext_words
    end = len(data)
    if b0 & 0x20:
        end -= data[-1]
    if pos > end:
        raise ValueError("RTP header longer than the packet")
    return Rtp(b1 & 0x7F, bool(b1 & 0x80), seq, ts, ssrc, data[pos:end])
