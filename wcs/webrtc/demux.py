"""RFC 7983 demultiplexing of one UDP 5-tuple by the first byte."""

from __future__ import annotations

STUN = 0
DTLS = 1
RTP = 2  # RTP or RTCP, told apart by rtcp_mux.is_rtcp
OTHER = 3


def classify(data: bytes) -> int:
    if not data:
        return OTHER
    b = data[0]
    if b < 4:
        return STUN
    if 20 <= b <= 63:
        return DTLS
    if 128 <= b <= 191:
        return RTP
    return OTHER


def is_rtcp(data: bytes) -> bool:
    """With rtcp-mux, RTCP packet types 192..223 occupy the byte RTP uses for M+PT (RFC 5761)."""
    return len(data) >= 2 and 192 <= data[1] <= 223
