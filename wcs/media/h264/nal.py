"""H.264 NAL unit facts and the access unit: one picture's NAL units with its RTP timestamp.

NAL units are kept as ``bytes`` without start codes; Annex-B (start codes, for decoders and
``.h264`` files) and AVCC (4-byte length prefixes, for MP4/FLV/RTMP) are produced on demand.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

# nal_unit_type values (H.264 table 7-1) and the RTP payload types of RFC 6184 table 1.
NAL_SLICE = 1
NAL_SLICE_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9
NAL_STAP_A = 24
NAL_STAP_B = 25
NAL_MTAP16 = 26
NAL_MTAP24 = 27
NAL_FU_A = 28
NAL_FU_B = 29

START_CODE = b"\x00\x00\x00\x01"

# Profiles whose SPS carries chroma_format_idc, bit depths and scaling matrices (7.3.2.1.1).
HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


def nal_type(nal: bytes) -> int:
    return nal[0] & 0x1F


@dataclass(slots=True)
class AccessUnit:
    """One coded picture as received: NAL units in decoding order, RTP timestamp (90 kHz).

    ``keyframe``: holds an IDR slice, is undamaged and SPS/PPS are present in ``nals``.
    ``damaged``: a packet of it (or a reference it depends on) was lost; never a keyframe.
    """

    timestamp: int
    nals: list[bytes] = field(default_factory=list)
    keyframe: bool = False
    damaged: bool = False

    @property
    def has_idr(self) -> bool:
        return any(n[0] & 0x1F == NAL_SLICE_IDR for n in self.nals)

    def annexb(self) -> bytes:
        """The NAL units with 4-byte start codes (what decoders and .h264 files take)."""
        if not self.nals:
            return b""
        return START_CODE + START_CODE.join(self.nals)

    def avcc(self) -> bytes:
        """The NAL units with 4-byte big-endian length prefixes (MP4, FLV, RTMP)."""
        return b"".join(struct.pack("!I", len(n)) + n for n in self.nals)


def split_annexb(data: bytes) -> list[bytes]:
    """Split an Annex-B byte stream (3- or 4-byte start codes) into NAL units."""
    nals: list[bytes] = []
    n = len(data)
    start = data.find(b"\x00\x00\x01")
    if start < 0:
        return [data] if data else []
    pos = start + 3
    while pos < n:
        nxt = data.find(b"\x00\x00\x01", pos)
        end = n if nxt < 0 else nxt
        # A 4-byte start code (or trailing_zero_8bits) leaves zeros before the next one.
        stop = end
        while stop > pos and data[stop - 1] == 0 and nxt >= 0:
            stop -= 1
        if stop > pos:
            nals.append(data[pos:stop])
        if nxt < 0:
            break
        pos = nxt + 3
    return nals


def split_avcc(data: bytes, length_size: int = 4) -> list[bytes]:
    """Split length-prefixed NAL units (AVCC); raises ValueError on a truncated unit."""
    nals: list[bytes] = []
    pos = 0
    n = len(data)
    while pos < n:
        if pos + length_size > n:
            raise ValueError("truncated AVCC length prefix")
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if pos + size > n:
            raise ValueError("truncated AVCC NAL unit")
        nals.append(data[pos : pos + size])
        pos += size
    return nals


def parse_sprop_parameter_sets(value: str) -> list[bytes]:
    """Decode the SDP fmtp ``sprop-parameter-sets`` (comma separated base64 NAL units)."""
    nals: list[bytes] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            nal = base64.b64decode(item + "=" * (-len(item) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"bad base64 in sprop-parameter-sets: {item!r}") from exc
        if nal:
            nals.append(nal)
    return nals


def format_sprop_parameter_sets(nals: list[bytes]) -> str:
    return ",".join(base64.b64encode(n).decode("ascii") for n in nals)


def avc_decoder_configuration_record(sps: bytes, pps: bytes | Iterable[bytes]) -> bytes:
    """ISO/IEC 14496-15 AVCDecoderConfigurationRecord (MP4 ``avcC``, FLV sequence header).

    4-byte NAL length prefixes, one SPS, one or more PPS. For the profiles whose SPS carries
    chroma format and bit depths, the extension is appended with the SPS's values; an SPS we
    cannot read there gets 4:2:0 8-bit, what SIP endpoints send, rather than no record.
    """
    if len(sps) < 4 or nal_type(sps) != NAL_SPS:
        raise ValueError("not an H.264 SPS NAL unit")
    pps_list = [pps] if isinstance(pps, bytes | bytearray) else list(pps)
    if (
        not pps_list
        or len(pps_list) > 255
        or any(not p or nal_type(p) != NAL_PPS for p in pps_list)
    ):
        raise ValueError("not an H.264 PPS NAL unit")
    record = bytearray((1, sps[1], sps[2], sps[3], 0xFF, 0xE1))
    record += struct.pack("!H", len(sps)) + sps
    record.append(len(pps_list))
    for p in pps_list:
        record += struct.pack("!H", len(p)) + p
    if sps[1] in HIGH_PROFILES or sps[1] == 144:  # 144: the withdrawn High 4:4:4
        from .sps import parse_sps  # local: sps.py imports this module

        try:
            info = parse_sps(sps)
            chroma, luma, chroma_depth = (
                info.chroma_format_idc,
                info.bit_depth_luma,
                info.bit_depth_chroma,
            )
        except ValueError:
            chroma, luma, chroma_depth = 1, 8, 8
        record += bytes((0xFC | chroma, 0xF8 | (luma - 8), 0xF8 | (chroma_depth - 8), 0))
    return bytes(record)
