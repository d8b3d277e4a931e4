"""RTP and RTCP: packets, per-SSRC session state, jitter buffer, media port allocation.

- :class:`RtpPacket` (``parse(bytes)`` / ``serialize()``) for the slow path, and plain
  functions in :mod:`wcs.rtp.packet` (``header``, ``rewrite``) for the hot path;
- :mod:`wcs.rtp.rtcp`: SR, RR, SDES, BYE, NACK, PLI, FIR, REMB (``parse_compound``);
- :class:`ReceiveStatistics`: loss, jitter and the RTCP report blocks of received streams;
- :class:`SourceGuard` (:mod:`wcs.rtp.source_guard`): which RTP source may feed a session
  (the peer's SDP address, or a new source after probation), bounded per-SSRC state;
- :mod:`wcs.rtp.session`: one m-line's sans-IO RTP/RTCP session with a SIP peer
  (:mod:`wcs.rtp.keepalive`: the silence and filler it sends to keep the path open);
- :class:`JitterBuffer`, and :class:`PortAllocator` for even RTP ports from a range.
"""

from .jitter import JitterBuffer
from .packet import RtpError, RtpPacket, is_rtcp, is_rtp
from .ports import MediaPorts, PortAllocator, PortsExhausted
from .rtcp import RtcpError, parse_compound, serialize_compound
from .source_guard import GuardConfig, SourceGuard
from .stats import ReceiveStatistics

__all__ = [
    "GuardConfig",
    "JitterBuffer",
    "MediaPorts",
    "PortAllocator",
    "PortsExhausted",
    "ReceiveStatistics",
    "RtcpError",
    "RtpError",
    "RtpPacket",
    "SourceGuard",
    "is_rtcp",
    "is_rtp",
    "parse_compound",
    "serialize_compound",
]
