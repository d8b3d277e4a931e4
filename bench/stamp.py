"""The send timestamp carried in each benchmark RTP packet (RFC 8285 one-byte extension).

One element, ID 14, 8 bytes: the sender's CLOCK_REALTIME in nanoseconds, taken just before
``sendto``. Receivers compare it with the kernel's arrival stamp (SO_TIMESTAMPNS, the same
clock), so neither side's event-loop delay leaks into the figure. SRTP leaves RTP header
extensions in the clear, so a viewer reads it without decrypting.
"""

from __future__ import annotations

import struct

EXT_ID = 14
_PROFILE = 0xBEDE
# profile, length 3 words; element header (ID 14, length 8 → L=7); 8 bytes; 3 pad bytes
_EXT = struct.Struct("!HHBQ3x")
EXT_LEN = _EXT.size  # 16
_ELEMENT = (EXT_ID << 4) | 7


def stamp(header12: bytes, payload: bytes, now_ns: int) -> bytes:
    """A packet: 12-byte fixed header (no CSRC), the X bit and our element, the payload."""
    return (
        bytes((header12[0] | 0x10,))
        + header12[1:12]
        + _EXT.pack(_PROFILE, 3, _ELEMENT, now_ns)
        + payload
    )


def read_stamp(data: bytes) -> int | None:
    """The send time in an RTP packet (plain or SRTP), or None when it has none."""
    b0 = data[0]
    if not b0 & 0x10:
        return None
    off = 12 + 4 * (b0 & 0x0F)
    if len(data) < off + 4:
        return None
    profile, words = struct.unpack_from("!HH", data, off)
    if profile != _PROFILE:
        return None
    pos, end = off + 4, min(off + 4 + 4 * words, len(data))
    while pos < end:  # walk the one-byte elements: ours need not be first
        b = data[pos]
        if b == 0:  # padding
            pos += 1
            continue
        ident, length = b >> 4, (b & 0x0F) + 1
        if ident == 15:
            return None
        if ident == EXT_ID and length == 8 and pos + 9 <= end:
            return int.from_bytes(data[pos + 1 : pos + 9], "big")
        pos += 1 + length
    return None
