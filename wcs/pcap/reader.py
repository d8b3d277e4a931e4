"""A small reader of classic pcap files: the UDP and TCP payloads on IPv4/IPv6.

Used by the conformance replays and by ``wcs conformance``; standard library only.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_LINKTYPE_ETHERNET = 1
_LINKTYPE_RAW = 101
_LINKTYPE_LINUX_SLL = 113
_LINKTYPE_NULL = 0


class PcapError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Packet:
    """One transport-layer payload and where it went."""

    index: int  # 1-based frame number, as Wireshark shows it
    time: float
    proto: str  # "udp" or "tcp"
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def read_pcap(path: str | Path) -> Iterator[Packet]:
    data = Path(path).read_bytes()
    if len(data) < 24:
        raise PcapError("file too short for a pcap header")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    elif magic == b"\x0a\x0d\x0d\x0a":
        raise PcapError("pcapng is not supported; convert with: editcap -F pcap IN OUT")
    else:
        raise PcapError("not a pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    offset = 24
    index = 0
    while offset + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[offset : offset + 16])
        offset += 16
        frame = data[offset : offset + incl]
        offset += incl
        index += 1
        ts = sec + frac / (1e9 if nano else 1e6)
        packet = _decode(index, ts, linktype, frame)
        if packet is not None:
            yield packet


def _decode(index: int, ts: float, linktype: int, frame: bytes) -> Packet | None:
    if linktype == _LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return None
        ethertype = struct.unpack("!H", frame[12:14])[0]
        pos = 14
        while ethertype == 0x8100 and len(frame) >= pos + 4:  # VLAN tags
            ethertype = struct.unpack("!H", frame[pos + 2 : pos + 4])[0]
            pos += 4
        return _ip(index, ts, ethertype, frame[pos:])
    if linktype == _LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            return None
        return _ip(index, ts, struct.unpack("!H", frame[14:16])[0], frame[16:])
    if linktype == _LINKTYPE_RAW:
        version = frame[0] >> 4 if frame else 0
        return _ip(index, ts, 0x0800 if version == 4 else 0x86DD, frame)
    if linktype == _LINKTYPE_NULL:
        family = struct.unpack("<I", frame[:4])[0] if len(frame) >= 4 else 0
        return _ip(index, ts, 0x0800 if family == 2 else 0x86DD, frame[4:])
    raise PcapError(f"unsupported link type {linktype}")


def _ip(index: int, ts: float, ethertype: int, pkt: bytes) -> Packet | None:
    if ethertype == 0x0800 and len(pkt) >= 20:
        ihl = (pkt[0] & 0x0F) * 4
        total = struct.unpack("!H", pkt[2:4])[0]
        proto = pkt[9]
        src = ".".join(str(b) for b in pkt[12:16])
        dst = ".".join(str(b) for b in pkt[16:20])
        body = pkt[ihl:total] if total >= ihl else pkt[ihl:]
    elif ethertype == 0x86DD and len(pkt) >= 40:
        import ipaddress

        proto = pkt[6]
        src = str(ipaddress.IPv6Address(pkt[8:24]))
        dst = str(ipaddress.IPv6Address(pkt[24:40]))
        body = pkt[40:]
    else:
        return None
    if proto == 17 and len(body) >= 8:
        sport, dport, length = struct.unpack("!HHH", body[:6])
        return Packet(index, ts, "udp", (src, sport), (dst, dport), body[8:length])
    if proto == 6 and len(body) >= 20:
        sport, dport = struct.unpack("!HH", body[:4])
        data_off = (body[12] >> 4) * 4
        return Packet(index, ts, "tcp", (src, sport), (dst, dport), body[data_off:])
    return None
