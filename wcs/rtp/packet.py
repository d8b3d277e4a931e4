"""RTP packets (RFC 3550 §5.1): a dataclass for the slow path, plain functions for the hot path.

The forwarder never builds an :class:`RtpPacket`: it reads the header fields with
:func:`header` (one ``struct`` call) and rewrites them in place with :func:`rewrite`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "FIXED_HEADER",
    "RtpError",
    "RtpPacket",
    "header",
    "is_rtcp",
    "is_rtp",
    "pack_header",
    "payload_bounds",
    "rewrite",
    "seq_ts_ssrc",
]


class RtpError(ValueError):
    """Malformed RTP packet."""


_FIXED = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC
FIXED_HEADER = _FIXED  # for writers that pack the header straight into their buffer
_EXT = struct.Struct("!HH")  # profile, length in 32-bit words
_HDR_PT_SEQ_TS_SSRC = struct.Struct("!xBHII")
_SEQ_TS_SSRC = struct.Struct("!HII")


@dataclass(slots=True)
class RtpPacket:
    payload_type: int = 0
    sequence: int = 0
    timestamp: int = 0
    ssrc: int = 0
    payload: bytes = b""
    marker: bool = False
    csrc: list[int] = field(default_factory=list)
    extension_profile: int | None = None  # None: no header extension (X bit clear)
    extension: bytes = b""  # extension data (a multiple of 4 bytes), without its 4-byte head
    padding: bytes = b""  # raw padding, its last byte being its length (P bit set when present)
    version: int = 2

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> RtpPacket:
        n = len(data)
        if n < 12:
            raise RtpError(f"RTP packet too short ({n} bytes)")
        b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data)
        version = b0 >> 6
        if version != 2:
            raise RtpError(f"RTP version {version}, expected 2")
        cc = b0 & 0x0F
        pos = 12 + 4 * cc
        if pos > n:
            raise RtpError("RTP CSRC list runs past the end")
        csrc = list(struct.unpack_from(f"!{cc}I", data, 12)) if cc else []
        ext_profile: int | None = None
        ext = b""
        if b0 & 0x10:
            if pos + 4 > n:
                raise RtpError("RTP extension header runs past the end")
            ext_profile, words = _EXT.unpack_from(data, pos)
            pos += 4
            if pos + 4 * words > n:
                raise RtpError("RTP extension runs past the end")
            ext = bytes(data[pos : pos + 4 * words])
            pos += 4 * words
        end = n
        padding = b""
        if b0 & 0x20:
            pad = data[-1]
            if pad == 0 or pos + pad > n:
                raise RtpError(f"bad RTP padding length {pad}")
            end = n - pad
            padding = bytes(data[end:])
        return cls(
            payload_type=b1 & 0x7F,
            sequence=seq,
            timestamp=ts,
            ssrc=ssrc,
            payload=bytes(data[pos:end]),
            marker=bool(b1 & 0x80),
            csrc=csrc,
            extension_profile=ext_profile,
            extension=ext,
            padding=padding,
            version=version,
        )

    def serialize(self) -> bytes:
        if len(self.csrc) > 15:
            raise RtpError("at most 15 CSRCs")
        if len(self.extension) % 4:
            raise RtpError("RTP extension data must be a multiple of 4 bytes")
        b0 = (self.version << 6) | len(self.csrc)
        if self.padding:
            b0 |= 0x20
        if self.extension_profile is not None:
            b0 |= 0x10
        b1 = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        parts = [
            _FIXED.pack(
                b0, b1, self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF, self.ssrc & 0xFFFFFFFF
            )
        ]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if self.extension_profile is not None:
            parts.append(_EXT.pack(self.extension_profile, len(self.extension) // 4))
            parts.append(self.extension)
        parts.append(self.payload)
        parts.append(self.padding)
        return b"".join(parts)

    def __bytes__(self) -> bytes:
        return self.serialize()


# --------------------------------------------------------------------------- hot path
# These assume the caller checked len(data) >= 12 (or use header(), which checks).


def header(data: bytes | bytearray | memoryview) -> tuple[int, int, int, int]:
    """(payload_type, sequence, timestamp, ssrc) of an RTP packet; RtpError if too short."""
    if len(data) < 12:
        raise RtpError("RTP packet too short")
    b1, seq, ts, ssrc = _HDR_PT_SEQ_TS_SSRC.unpack_from(data)
    return b1 & 0x7F, seq, ts, ssrc


def pack_header(
    payload_type: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    marker: bool = False,
    first: int = 0x80,
) -> bytes:
    """The 12-byte fixed header (no CSRC); ``first`` is byte 0 (V=2, no P/X/CC by default)."""
    b1 = (0x80 if marker else 0) | payload_type
    return _FIXED.pack(first, b1, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF)


def seq_ts_ssrc(data: bytes | bytearray | memoryview) -> tuple[int, int, int]:
    """(sequence, timestamp, ssrc) of a packet of at least 12 bytes."""
    seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
    return seq, ts, ssrc


def rewrite(buf: bytearray, payload_type: int, sequence: int, timestamp: int, ssrc: int) -> None:
    """Rewrite PT (keeping the marker bit), sequence, timestamp and SSRC in place.

    Values are masked to their field widths, so offsets can be added without wrapping first.
    """
    buf[1] = (buf[1] & 0x80) | (payload_type & 0x7F)
    _SEQ_TS_SSRC.pack_into(buf, 2, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF)


def payload_bounds(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(start, end) of the payload: after CSRCs and extension, before padding; RtpError if bad."""
    n = len(data)
    if n < 12:
        raise RtpError("RTP packet too short")
    b0 = data[0]
    pos = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if pos + 4 > n:
            raise RtpError("RTP extension header runs past the end")
        pos += 4 + 4 * ((data[pos + 2] << 8) | data[pos + 3])
    end = n
    if b0 & 0x20:
        end -= data[n - 1]
    if pos > end or (b0 & 0x20 and data[n - 1] == 0):
        raise RtpError("RTP header, extension or padding runs past the end")
    return pos, end


def payload_span(data: bytes) -> tuple[int, int]:
    """:func:`payload_bounds` for the receive hot path: (-1, -1) instead of an exception."""
    n = len(data)
    b0 = data[0]
    pos = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if pos + 4 > n:
            return -1, -1
        pos += 4 + 4 * ((data[pos + 2] << 8) | data[pos + 3])
    end = n
    if b0 & 0x20:
        pad = data[n - 1]
        if pad == 0:
            return -1, -1
        end -= pad
    if pos > end:
        return -1, -1
    return pos, end


def is_rtcp(data: bytes | bytearray | memoryview) -> bool:
    """RFC 5761 §4 demultiplexing: the second byte of RTCP is a packet type in 192..223.

    (RTP payload types 64..95 would collide, which is why they must not be used with mux.)
    """
    return len(data) >= 8 and data[0] >> 6 == 2 and 192 <= data[1] <= 223


def is_rtp(data: bytes | bytearray | memoryview) -> bool:
    """Version 2, at least a fixed header, and not RTCP by the RFC 5761 rule."""
    return len(data) >= 12 and data[0] >> 6 == 2 and not 192 <= data[1] <= 223
