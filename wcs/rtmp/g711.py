"""G.711 μ-law / A-law to 16-bit linear PCM (ITU-T G.711), by table.

Here because the AAC encoder needs PCM and ``audioop`` leaves Python in 3.13. Move to
``wcs/media`` when that package grows a codec module.
"""

from __future__ import annotations

import struct


def _ulaw(byte: int) -> int:
    u = ~byte & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return (0x84 - t) if u & 0x80 else (t - 0x84)


def _alaw(byte: int) -> int:
    a = byte ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


_ULAW_TABLE = [struct.pack("<h", _ulaw(b)) for b in range(256)]
_ALAW_TABLE = [struct.pack("<h", _alaw(b)) for b in range(256)]


def ulaw_to_s16le(data: bytes) -> bytes:
    table = _ULAW_TABLE
    return b"".join([table[b] for b in data])


def alaw_to_s16le(data: bytes) -> bytes:
    table = _ALAW_TABLE
    return b"".join([table[b] for b in data])
