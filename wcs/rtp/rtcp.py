"""RTCP packets (RFC 3550 §6, RFC 4585, RFC 5104, REMB draft) and compound packets.

:func:`parse_compound` returns the packets it knows (SR, RR, SDES, BYE, APP, generic NACK,
PLI, FIR, REMB) and skips any other type; anything malformed raises :class:`RtcpError`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "App",
    "Bye",
    "Fir",
    "Nack",
    "Pli",
    "ReceiverReport",
    "Remb",
    "ReportBlock",
    "RtcpError",
    "RtcpPacket",
    "Sdes",
    "SdesChunk",
    "SenderReport",
    "parse_compound",
    "serialize_compound",
]

PT_SR = 200
PT_RR = 201
PT_SDES = 202
PT_BYE = 203
PT_APP = 204
PT_RTPFB = 205
PT_PSFB = 206

SDES_CNAME = 1

_HEAD = struct.Struct("!BBH")
_U32 = struct.Struct("!I")
_TWO_SSRC = struct.Struct("!II")
_SR_INFO = struct.Struct("!IQIII")  # SSRC, NTP, RTP ts, packets, octets
_BLOCK = struct.Struct("!IIIIII")  # SSRC, fraction<<24|lost, ext seq, jitter, LSR, DLSR
_NACK_FCI = struct.Struct("!HH")
_FIR_FCI = struct.Struct("!IB3x")


class RtcpError(ValueError):
    """Malformed RTCP packet."""


def _head(packet_type: int, count: int, body_len: int) -> bytes:
    if body_len % 4:
        raise RtcpError("RTCP body must be a multiple of 4 bytes")
    return _HEAD.pack(0x80 | (count & 0x1F), packet_type, body_len // 4)


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _feedback(ptype: int, fmt: int, sender: int, media: int, fci: bytes = b"") -> bytes:
    """RFC 4585 §6.1 common feedback format: header, packet sender and media source SSRC."""
    return _head(ptype, fmt, 8 + len(fci)) + _TWO_SSRC.pack(sender, media) + fci


@dataclass(slots=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int = 0  # 0..255, fixed point /256
    packets_lost: int = 0  # cumulative, signed 24-bit
    highest_sequence: int = 0  # extended highest sequence number received
    jitter: int = 0  # in RTP timestamp units
    lsr: int = 0  # middle 32 bits of the last SR's NTP timestamp
    dlsr: int = 0  # delay since that SR, in 1/65536 s

    @classmethod
    def parse(cls, data: bytes, pos: int) -> ReportBlock:
        ssrc, word, ext, jitter, lsr, dlsr = _BLOCK.unpack_from(data, pos)
        lost = word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        return cls(ssrc, word >> 24, lost, ext, jitter, lsr, dlsr)

    def serialize(self) -> bytes:
        lost = max(-0x800000, min(0x7FFFFF, self.packets_lost)) & 0xFFFFFF
        words = (self.highest_sequence, self.jitter, self.lsr, self.dlsr)
        first = ((self.fraction_lost & 0xFF) << 24) | lost
        return _BLOCK.pack(self.ssrc, first, *(w & 0xFFFFFFFF for w in words))


def _blocks(body: bytes, pos: int, count: int) -> tuple[list[ReportBlock], int]:
    if pos + 24 * count > len(body):
        raise RtcpError("report blocks run past the end")
    return [ReportBlock.parse(body, pos + 24 * i) for i in range(count)], pos + 24 * count


def _with_blocks(ptype: int, first: bytes, reports: list[ReportBlock], extension: bytes) -> bytes:
    """An SR or RR: its sender part, its report blocks, its profile extension."""
    body = b"".join([first, *(r.serialize() for r in reports), extension])
    return _head(ptype, _count(reports), len(body)) + body


@dataclass(slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int = 0  # 64-bit NTP (seconds << 32 | fraction)
    rtp_timestamp: int = 0
    packet_count: int = 0
    octet_count: int = 0
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""  # profile-specific extension, kept verbatim

    @classmethod
    def parse_body(cls, count: int, body: bytes) -> SenderReport:
        if len(body) < 24:
            raise RtcpError("SR too short")
        ssrc, ntp, rtp_ts, packets, octets = _SR_INFO.unpack_from(body)
        reports, pos = _blocks(body, 24, count)
        return cls(ssrc, ntp, rtp_ts, packets, octets, reports, body[pos:])

    def serialize(self) -> bytes:
        counts = (self.rtp_timestamp, self.packet_count, self.octet_count)
        ntp = self.ntp_timestamp & 0xFFFFFFFFFFFFFFFF
        info = _SR_INFO.pack(self.ssrc, ntp, *(c & 0xFFFFFFFF for c in counts))
        return _with_blocks(PT_SR, info, self.reports, self.extension)


@dataclass(slots=True)
class ReceiverReport:
    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""

    @classmethod
    def parse_body(cls, count: int, body: bytes) -> ReceiverReport:
        if len(body) < 4:
            raise RtcpError("RR too short")
        reports, pos = _blocks(body, 4, count)
        return cls(_U32.unpack_from(body)[0], reports, body[pos:])

    def serialize(self) -> bytes:
        return _with_blocks(PT_RR, _U32.pack(self.ssrc), self.reports, self.extension)


def _count(items: list[ReportBlock] | list[int] | list[SdesChunk]) -> int:
    if len(items) > 31:
        raise RtcpError("at most 31 items per RTCP packet")
    return len(items)


@dataclass(slots=True)
class SdesChunk:
    ssrc: int
    items: list[tuple[int, bytes]] = field(default_factory=list)  # (type, value), e.g. CNAME=1

    @property
    def cname(self) -> str | None:
        return next((v.decode("utf-8", "replace") for k, v in self.items if k == SDES_CNAME), None)


@dataclass(slots=True)
class Sdes:
    chunks: list[SdesChunk] = field(default_factory=list)

    @classmethod
    def cname_for(cls, ssrc: int, cname: str) -> Sdes:
        return cls([SdesChunk(ssrc, [(SDES_CNAME, cname.encode())])])

    @classmethod
    def parse_body(cls, count: int, body: bytes) -> Sdes:
        chunks: list[SdesChunk] = []
        pos, n = 0, len(body)
        for _ in range(count):
            if pos + 4 > n:
                raise RtcpError("SDES chunk runs past the end")
            chunk = SdesChunk(_U32.unpack_from(body, pos)[0])
            pos += 4
            while True:
                if pos >= n:
                    raise RtcpError("SDES items not terminated")
                kind = body[pos]
                if kind == 0:
                    pos = (pos + 4) & ~3  # the null item, then padding to a word boundary
                    break
                if pos + 2 > n or pos + 2 + body[pos + 1] > n:
                    raise RtcpError("SDES item runs past the end")
                length = body[pos + 1]
                chunk.items.append((kind, bytes(body[pos + 2 : pos + 2 + length])))
                pos += 2 + length
            chunks.append(chunk)
        return cls(chunks)

    def serialize(self) -> bytes:
        parts = []
        for chunk in self.chunks:
            data = _U32.pack(chunk.ssrc)
            for kind, value in chunk.items:
                if not 0 < kind < 256 or len(value) > 255:
                    raise RtcpError("SDES item type 1..255 and value up to 255 bytes")
                data += bytes((kind, len(value))) + value
            parts.append(data + b"\x00" * (4 - len(data) % 4))  # at least one null byte
        body = b"".join(parts)
        return _head(PT_SDES, _count(self.chunks), len(body)) + body

    def cname(self, ssrc: int) -> str | None:
        return next((chunk.cname for chunk in self.chunks if chunk.ssrc == ssrc), None)


@dataclass(slots=True)
class Bye:
    ssrcs: list[int] = field(default_factory=list)
    reason: bytes | None = None

    @classmethod
    def parse_body(cls, count: int, body: bytes) -> Bye:
        end = 4 * count
        if end > len(body):
            raise RtcpError("BYE SSRC list runs past the end")
        ssrcs = list(struct.unpack_from(f"!{count}I", body))
        reason = None
        if end < len(body):
            length = body[end]
            if end + 1 + length > len(body):
                raise RtcpError("BYE reason runs past the end")
            reason = bytes(body[end + 1 : end + 1 + length])
        return cls(ssrcs, reason)

    def serialize(self) -> bytes:
        body = struct.pack(f"!{len(self.ssrcs)}I", *self.ssrcs)
        if self.reason is not None:
            if len(self.reason) > 255:
                raise RtcpError("BYE reason up to 255 bytes")
            body = _pad4(body + bytes((len(self.reason),)) + self.reason)
        return _head(PT_BYE, _count(self.ssrcs), len(body)) + body


@dataclass(slots=True)
class App:
    ssrc: int
    name: bytes  # 4 ASCII bytes
    subtype: int = 0
    data: bytes = b""

    @classmethod
    def parse_body(cls, count: int, body: bytes) -> App:
        if len(body) < 8:
            raise RtcpError("APP too short")
        return cls(_U32.unpack_from(body)[0], bytes(body[4:8]), count, bytes(body[8:]))

    def serialize(self) -> bytes:
        if len(self.name) != 4:
            raise RtcpError("APP name must be 4 bytes")
        body = _U32.pack(self.ssrc) + self.name + self.data
        return _head(PT_APP, self.subtype, len(body)) + body


# --------------------------------------------------------------------------- feedback


@dataclass(slots=True)
class Nack:
    """RFC 4585 §6.2.1 generic NACK: (pid, blp) pairs naming lost sequence numbers."""

    sender_ssrc: int
    media_ssrc: int
    pairs: list[tuple[int, int]] = field(default_factory=list)
    FMT = 1

    @classmethod
    def from_lost(cls, sender_ssrc: int, media_ssrc: int, lost: list[int]) -> Nack:
        pairs: list[tuple[int, int]] = []
        for seq in lost:
            seq &= 0xFFFF
            if pairs:
                pid, blp = pairs[-1]
                delta = (seq - pid) & 0xFFFF
                if delta == 0:
                    continue
                if delta <= 16:
                    pairs[-1] = (pid, blp | (1 << (delta - 1)))
                    continue
            pairs.append((seq, 0))
        return cls(sender_ssrc, media_ssrc, pairs)

    def lost(self) -> list[int]:
        seqs: list[int] = []
        for pid, blp in self.pairs:
            seqs.append(pid)
            seqs.extend((pid + i + 1) & 0xFFFF for i in range(16) if blp >> i & 1)
        return seqs

    @classmethod
    def parse_fci(cls, sender: int, media: int, fci: bytes) -> Nack:
        if len(fci) % 4:
            raise RtcpError("NACK FCI must be a multiple of 4 bytes")
        return cls(sender, media, [_NACK_FCI.unpack_from(fci, i) for i in range(0, len(fci), 4)])

    def serialize(self) -> bytes:
        fci = b"".join(_NACK_FCI.pack(p & 0xFFFF, b & 0xFFFF) for p, b in self.pairs)
        return _feedback(PT_RTPFB, self.FMT, self.sender_ssrc, self.media_ssrc, fci)


@dataclass(slots=True)
class Pli:
    """RFC 4585 §6.3.1 Picture Loss Indication."""

    sender_ssrc: int
    media_ssrc: int
    FMT = 1

    @classmethod
    def parse_fci(cls, sender: int, media: int, fci: bytes) -> Pli:
        return cls(sender, media)

    def serialize(self) -> bytes:
        return _feedback(PT_PSFB, self.FMT, self.sender_ssrc, self.media_ssrc)


@dataclass(slots=True)
class Fir:
    """RFC 5104 §4.3.1 Full Intra Request: (ssrc, command sequence number) entries."""

    sender_ssrc: int
    entries: list[tuple[int, int]] = field(default_factory=list)
    media_ssrc: int = 0  # unused by FIR, kept for round-trips
    FMT = 4

    @classmethod
    def parse_fci(cls, sender: int, media: int, fci: bytes) -> Fir:
        if len(fci) % 8:
            raise RtcpError("FIR FCI must be a multiple of 8 bytes")
        return cls(sender, [_FIR_FCI.unpack_from(fci, i) for i in range(0, len(fci), 8)], media)

    def serialize(self) -> bytes:
        fci = b"".join(_FIR_FCI.pack(s, n & 0xFF) for s, n in self.entries)
        return _feedback(PT_PSFB, self.FMT, self.sender_ssrc, self.media_ssrc, fci)


@dataclass(slots=True)
class Remb:
    """draft-alvestrand-rmcat-remb: receiver estimated maximum bitrate (PSFB fmt 15)."""

    sender_ssrc: int
    bitrate: int  # bits per second
    ssrcs: list[int] = field(default_factory=list)
    FMT = 15

    @classmethod
    def parse_fci(cls, sender: int, media: int, fci: bytes) -> Remb | None:
        """None when the AFB packet is not REMB (other application-layer feedback)."""
        if len(fci) < 8 or fci[:4] != b"REMB":
            return None
        count = fci[4]
        if len(fci) < 8 + 4 * count:
            raise RtcpError("REMB SSRC list runs past the end")
        exp = fci[5] >> 2
        mantissa = ((fci[5] & 0x03) << 16) | (fci[6] << 8) | fci[7]
        return cls(sender, mantissa << exp, list(struct.unpack_from(f"!{count}I", fci, 8)))

    def serialize(self) -> bytes:
        if self.bitrate < 0 or len(self.ssrcs) > 255:
            raise RtcpError("REMB bitrate must be >= 0 and at most 255 SSRCs")
        exp, mantissa = 0, self.bitrate
        while mantissa >= 1 << 18:  # an 18-bit mantissa and a 6-bit exponent
            mantissa >>= 1
            exp += 1
        if exp > 63:
            raise RtcpError("REMB bitrate too large")
        mantissa_bytes = mantissa.to_bytes(3, "big")
        fci = (
            b"REMB" + bytes((len(self.ssrcs), (exp << 2) | mantissa_bytes[0])) + mantissa_bytes[1:]
        )
        return _feedback(
            PT_PSFB,
            self.FMT,
            self.sender_ssrc,
            0,
            fci + struct.pack(f"!{len(self.ssrcs)}I", *self.ssrcs),
        )


RtcpPacket = SenderReport | ReceiverReport | Sdes | Bye | App | Nack | Pli | Fir | Remb


# --------------------------------------------------------------------------- compound


def parse_compound(data: bytes | bytearray | memoryview) -> list[RtcpPacket]:
    """Every known packet of a compound RTCP packet, in order; unknown types are skipped."""
    data = bytes(data)
    n = len(data)
    if n < 4:
        raise RtcpError(f"RTCP packet too short ({n} bytes)")
    packets: list[RtcpPacket] = []
    pos = 0
    while pos < n:
        if pos + 4 > n:
            raise RtcpError("trailing bytes after the last RTCP packet")
        b0, ptype, words = _HEAD.unpack_from(data, pos)
        if b0 >> 6 != 2:
            raise RtcpError(f"RTCP version {b0 >> 6}, expected 2")
        end = pos + 4 + 4 * words
        if end > n:
            raise RtcpError(f"RTCP packet type {ptype} runs past the end")
        body = data[pos + 4 : end]
        if b0 & 0x20:  # padding (only legal on the last packet; accepted anywhere)
            if not body or body[-1] == 0 or body[-1] > len(body):
                raise RtcpError("bad RTCP padding")
            body = body[: -body[-1]]
        packet = _parse_one(b0 & 0x1F, ptype, body)
        if packet is not None:
            packets.append(packet)
        pos = end
    return packets


_BY_TYPE: dict[int, Callable[[int, bytes], RtcpPacket]] = {
    PT_SR: SenderReport.parse_body,
    PT_RR: ReceiverReport.parse_body,
    PT_SDES: Sdes.parse_body,
    PT_BYE: Bye.parse_body,
    PT_APP: App.parse_body,
}
_FEEDBACK: dict[tuple[int, int], Callable[[int, int, bytes], RtcpPacket | None]] = {
    (PT_RTPFB, Nack.FMT): Nack.parse_fci,
    (PT_PSFB, Pli.FMT): Pli.parse_fci,
    (PT_PSFB, Fir.FMT): Fir.parse_fci,
    (PT_PSFB, Remb.FMT): Remb.parse_fci,
}


def _parse_one(count: int, ptype: int, body: bytes) -> RtcpPacket | None:
    parse = _BY_TYPE.get(ptype)
    if parse is not None:
        return parse(count, body)
    if ptype in (PT_RTPFB, PT_PSFB):
        if len(body) < 8:
            raise RtcpError("feedback packet too short")
        parse_fci = _FEEDBACK.get((ptype, count))
        if parse_fci is not None:
            sender, media = _TWO_SSRC.unpack_from(body)
            return parse_fci(sender, media, body[8:])
    return None


def serialize_compound(packets: list[RtcpPacket]) -> bytes:
    return b"".join(p.serialize() for p in packets)
