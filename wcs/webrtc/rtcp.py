"""The few RTCP packets a sending viewer peer needs: SR+SDES out; RR, PLI, FIR, NACK in.

Parsing is tolerant: a malformed packet ends the walk of the compound packet; what was
read before it is kept.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SR = 200
RR = 201
SDES = 202
BYE = 203
RTPFB = 205
PSFB = 206

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


class RtcpError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ReportBlock:
    ssrc: int  # the media source reported on (one of ours)
    fraction_lost: int  # /256
    cumulative_lost: int
    highest_seq: int
    jitter: int
    lsr: int
    dlsr: int


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    sender_ssrc: int
    blocks: tuple[ReportBlock, ...]


@dataclass(frozen=True, slots=True)
class Nack:
    media_ssrc: int
    lost: tuple[int, ...]  # sequence numbers


@dataclass(frozen=True, slots=True)
class KeyframeRequest:
    media_ssrc: int
    kind: str  # "pli" or "fir"


RtcpItem = ReceiverReport | Nack | KeyframeRequest


def ntp_time(unix_time: float) -> int:
    """64-bit NTP timestamp of a Unix time."""
    secs = int(unix_time)
    frac = int((unix_time - secs) * (1 << 32)) & 0xFFFFFFFF
    return ((secs + NTP_EPOCH_OFFSET) & 0xFFFFFFFF) << 32 | frac


def build_sr(
    ssrc: int, unix_time: float, rtp_ts: int, packets: int, octets: int, cname: str
) -> bytes:
    """A compound SR (no report blocks: we receive no media) + SDES CNAME."""
    ntp = ntp_time(unix_time)
    sr = struct.pack(
        "!BBHIIIIII",
        0x80,
        SR,
        6,
        ssrc,
        ntp >> 32,
        ntp & 0xFFFFFFFF,
        rtp_ts & 0xFFFFFFFF,
        packets & 0xFFFFFFFF,
        octets & 0xFFFFFFFF,
    )
    name = cname.encode()[:255]
    item = struct.pack("!IBB", ssrc, 1, len(name)) + name + b"\x00"  # CNAME + END
    item += b"\x00" * (-len(item) % 4)
    sdes = struct.pack("!BBH", 0x81, SDES, len(item) // 4) + item
    return sr + sdes


def parse_sr(data: bytes) -> tuple[int, int, int, int, int]:
    """(ssrc, ntp, rtp_ts, packets, octets) of an SR at the start of ``data``."""
    if len(data) < 28 or data[1] != SR:
        raise RtcpError("not an SR")
    ssrc, ntp_hi, ntp_lo, ts, pkts, octs = struct.unpack_from("!IIIIII", data, 4)
    return ssrc, ntp_hi << 32 | ntp_lo, ts, pkts, octs


def parse_compound(data: bytes) -> list[RtcpItem]:
    items: list[RtcpItem] = []
    pos = 0
    while pos + 4 <= len(data):
        first, pt, length = struct.unpack_from("!BBH", data, pos)
        end = pos + 4 + length * 4
        if first >> 6 != 2 or end > len(data):
            break
        count = first & 0x1F
        body = data[pos + 4 : end]
        if pt in (SR, RR) and len(body) >= 4:
            skip = 4 + (20 if pt == SR else 0)
            items.append(_receiver_report(body, skip, count))
        elif pt == RTPFB and count == 1 and len(body) >= 8:
            items.append(_nack(body))
        elif pt == PSFB and len(body) >= 8:
            media = struct.unpack_from("!I", body, 4)[0]
            if count == 1:
                items.append(KeyframeRequest(media, "pli"))
            elif count == 4:
                # FIR names the target in its FCI; the media SSRC field is 0 (RFC 5104).
                target = struct.unpack_from("!I", body, 8)[0] if len(body) >= 16 else media
                items.append(KeyframeRequest(target, "fir"))
        pos = end
    return items


def _receiver_report(body: bytes, skip: int, count: int) -> ReceiverReport:
    sender = struct.unpack_from("!I", body, 0)[0]
    blocks = []
    for i in range(count):
        off = skip + 24 * i
        if off + 24 > len(body):
            break
        ssrc, lost_word, high, jitter, lsr, dlsr = struct.unpack_from("!IIIIII", body, off)
        cumulative = lost_word & 0xFFFFFF
        if cumulative & 0x800000:  # signed 24-bit
            cumulative -= 0x1000000
        blocks.append(ReportBlock(ssrc, lost_word >> 24, cumulative, high, jitter, lsr, dlsr))
    return ReceiverReport(sender, tuple(blocks))


def _nack(body: bytes) -> Nack:
    media = struct.unpack_from("!I", body, 4)[0]
    lost: list[int] = []
    for off in range(8, len(body) - 3, 4):
        pid, blp = struct.unpack_from("!HH", body, off)
        lost.append(pid)
        for bit in range(16):
            if blp & (1 << bit):
                lost.append((pid + bit + 1) & 0xFFFF)
    return Nack(media, tuple(lost))


def build_nack(sender_ssrc: int, media_ssrc: int, lost: list[int]) -> bytes:
    """Generic NACK (used by tests and a future receiving side)."""
    fci = b""
    remaining = sorted(set(lost))
    while remaining:
        pid = remaining.pop(0)
        blp = 0
        for seq in list(remaining):
            diff = (seq - pid) & 0xFFFF
            if 1 <= diff <= 16:
                blp |= 1 << (diff - 1)
                remaining.remove(seq)
        fci += struct.pack("!HH", pid, blp)
    return struct.pack("!BBHII", 0x81, RTPFB, 2 + len(fci) // 4, sender_ssrc, media_ssrc) + fci


def build_pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    return struct.pack("!BBHII", 0x81, PSFB, 2, sender_ssrc, media_ssrc)
