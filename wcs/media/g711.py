"""G.711 μ-law and A-law ↔ 16-bit signed little-endian PCM, table based, standard library only.

Decoding uses two 256-entry ``bytes.translate`` tables (low and high byte of the sample) and
interleaves them, so it runs at C speed. Encoding maps every 16-bit sample through a
65536-entry table built once, on first use. Results equal the ITU-T G.711 reference (and the
deprecated ``audioop`` module: ``lin2ulaw``/``lin2alaw`` on width 2, ``ulaw2lin``/``alaw2lin``).
"""

from __future__ import annotations

import sys
from array import array
from functools import cache

_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


def ulaw_to_linear(code: int) -> int:
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return _ULAW_BIAS - t if u & 0x80 else t - _ULAW_BIAS


def alaw_to_linear(code: int) -> int:
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def linear_to_ulaw(sample: int) -> int:
    # 14-bit magnitude with bias, as G.711 and audioop do (the two low bits are dropped).
    s = sample >> 2
    if s < 0:
        s = -s
        mask = 0x7F
    else:
        mask = 0xFF
    s = min(s, 8159) + 33  # clip, then the 14-bit bias
    seg = (s >> 6).bit_length()  # the segment: how far the top bit is above bit 6
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((s >> (seg + 1)) & 0x0F)) ^ mask


def linear_to_alaw(sample: int) -> int:
    s = sample >> 3  # 13-bit
    if s >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        s = -s - 1
    seg = (s >> 5).bit_length()
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= (s >> 1) & 0x0F if seg < 2 else (s >> seg) & 0x0F
    return aval ^ mask


def _byte_tables(decode: list[int]) -> tuple[bytes, bytes]:
    lo = bytes(v & 0xFF for v in decode)
    hi = bytes((v >> 8) & 0xFF for v in decode)
    return lo, hi


ULAW_DECODE: tuple[int, ...] = tuple(ulaw_to_linear(i) for i in range(256))
ALAW_DECODE: tuple[int, ...] = tuple(alaw_to_linear(i) for i in range(256))
_ULAW_LO, _ULAW_HI = _byte_tables(list(ULAW_DECODE))
_ALAW_LO, _ALAW_HI = _byte_tables(list(ALAW_DECODE))


def _decode(data: bytes, lo: bytes, hi: bytes) -> bytes:
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(lo)
    out[1::2] = data.translate(hi)
    return bytes(out)


def ulaw_decode(data: bytes) -> bytes:
    """μ-law bytes → 16-bit signed little-endian PCM."""
    return _decode(data, _ULAW_LO, _ULAW_HI)


def alaw_decode(data: bytes) -> bytes:
    """A-law bytes → 16-bit signed little-endian PCM."""
    return _decode(data, _ALAW_LO, _ALAW_HI)


@cache
def _encode_table(law: str) -> bytes:
    # Indexed by the sample as an unsigned 16-bit value (two's complement).
    fn = linear_to_ulaw if law == "u" else linear_to_alaw
    return bytes(fn(i - 65536 if i >= 32768 else i) for i in range(65536))


def _encode(pcm: bytes, law: str) -> bytes:
    if len(pcm) % 2:
        raise ValueError("16-bit PCM must have an even number of bytes")
    samples = array("H")
    samples.frombytes(pcm)
    if sys.byteorder == "big":
        samples.byteswap()
    return bytes(map(_encode_table(law).__getitem__, samples))


def ulaw_encode(pcm: bytes) -> bytes:
    """16-bit signed little-endian PCM → μ-law bytes."""
    return _encode(pcm, "u")


def alaw_encode(pcm: bytes) -> bytes:
    """16-bit signed little-endian PCM → A-law bytes."""
    return _encode(pcm, "a")
