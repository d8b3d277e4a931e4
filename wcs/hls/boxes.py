"""ISO BMFF (ISO/IEC 14496-12) box building blocks: plain boxes, full boxes, fixed fields.

Only writing is needed (we mux, never demux); each box is returned as ``bytes`` so the
callers build a tree by nesting calls. Sizes are 32-bit: a fragment never reaches 4 GiB.
"""

from __future__ import annotations

import struct

# The unity transformation matrix of mvhd/tkhd (16.16 and 2.30 fixed point).
UNITY_MATRIX = struct.pack("!9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)

_HEAD = struct.Struct("!I4s")
_FULL = struct.Struct("!I4sI")


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return _HEAD.pack(8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return _FULL.pack(12 + len(body), kind, (version << 24) | (flags & 0xFFFFFF)) + body


def language_code(lang: str = "und") -> int:
    """ISO-639-2/T code packed as three 5-bit letters (mdhd)."""
    code = 0
    for ch in lang[:3]:
        code = (code << 5) | ((ord(ch) - 0x60) & 0x1F)
    return code


def descriptor(tag: int, body: bytes) -> bytes:
    """An MPEG-4 systems descriptor (ISO/IEC 14496-1 8.3.3) with an expandable size field."""
    size = len(body)
    length = bytearray([size & 0x7F])
    size >>= 7
    while size:
        length.insert(0, 0x80 | (size & 0x7F))
        size >>= 7
    return bytes([tag]) + bytes(length) + body
