"""RTP streams written as classic pcap files for SIPp's ``play_pcap_audio``.

SIPp replays the UDP payloads of a pcap at the captured pace into a call (it rewrites the
addresses to the call's media), so a pcap is how a SIPp caller carries audio or RFC 4733
events. Written here from first principles (Ethernet/IPv4/UDP framing, G.711 mu-law, RFC
4733 event packets) so the peer's media owes nothing to the code under test.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PTIME = 0.02
SAMPLES = 160  # 20 ms at 8000 Hz
_EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13}
_EVENT_CODES.update({"C": 14, "D": 15})


@dataclass(frozen=True)
class RtpPacket:
    at: float  # seconds from the start of the file
    data: bytes


def ulaw(sample: int) -> int:
    """One 16-bit linear sample as a G.711 mu-law byte (ITU-T G.711, bias 0x84)."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def rtp_header(pt: int, seq: int, ts: int, ssrc: int, marker: bool = False) -> bytes:
    return struct.pack(
        "!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
    )


def pcmu_tone(seconds: float, hz: float = 700.0, ssrc: int = 0x5150A001) -> list[RtpPacket]:
    """``seconds`` of a sine tone as PCMU (PT 0) packets every 20 ms."""
    out = []
    for n in range(int(seconds / PTIME)):
        payload = bytes(
            ulaw(int(8000 * math.sin(2 * math.pi * hz * (n * SAMPLES + i) / 8000)))
            for i in range(SAMPLES)
        )
        out.append(RtpPacket(n * PTIME, rtp_header(0, n, n * SAMPLES, ssrc) + payload))
    return out


def dtmf_events(
    keys: str,
    pt: int,
    *,
    start: float = 0.5,
    key_ms: int = 200,
    gap_ms: int = 300,
    rate: int = 8000,
    ssrc: int = 0x5150D001,
) -> list[RtpPacket]:
    """RFC 4733 events for ``keys`` on payload type ``pt``: per key a marked first packet,
    one packet per 20 ms with the duration growing under one timestamp, three end packets."""
    out: list[RtpPacket] = []
    seq, at = 0, start
    step = rate * 20 // 1000
    for key in keys:
        ts = int(at * rate)
        steps = key_ms // 20
        for n in range(1, steps + 1):
            last = n == steps
            repeats = 3 if last else 1
            for _ in range(repeats):
                body = struct.pack("!BBH", _EVENT_CODES[key], (0x80 if last else 0) | 10, n * step)
                out.append(RtpPacket(at, rtp_header(pt, seq, ts, ssrc, marker=n == 1) + body))
                seq += 1
            at += PTIME
        at += gap_ms / 1000
    return out


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(payload: bytes, src: tuple[str, int], dst: tuple[str, int]) -> bytes:
    saddr = bytes(int(x) for x in src[0].split("."))
    daddr = bytes(int(x) for x in dst[0].split("."))
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, saddr, daddr)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return b"\0" * 12 + b"\x08\x00" + ip + udp  # Ethernet: zero MACs, IPv4


def write_pcap(
    path: Path,
    packets: Iterable[RtpPacket],
    src: tuple[str, int] = ("127.0.0.1", 6000),
    dst: tuple[str, int] = ("127.0.0.1", 7000),
) -> Path:
    """A classic pcap (Ethernet link type) of ``packets`` in time order."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for p in sorted(packets, key=lambda p: p.at):
        frame = _frame(p.data, src, dst)
        sec, usec = divmod(round(p.at * 1e6), 1_000_000)
        out.append(struct.pack("<IIII", 1_700_000_000 + sec, usec, len(frame), len(frame)))
        out.append(frame)
    path.write_bytes(b"".join(out))
    return path


def one_stream(*streams: Sequence[RtpPacket], ssrc: int = 0x5150A001) -> list[RtpPacket]:
    """``streams`` (same clock) as one RTP stream: time order, one SSRC, consecutive
    sequence numbers; the audio goes on under the events (RFC 4733 §2.5.1.2 allows it)."""
    out = []
    for seq, p in enumerate(sorted((p for s in streams for p in s), key=lambda p: p.at)):
        head = p.data[:2] + struct.pack("!HII", seq, struct.unpack("!I", p.data[4:8])[0], ssrc)
        out.append(RtpPacket(p.at, head + p.data[12:]))
    return out
