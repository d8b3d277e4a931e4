"""RTCP sender reports for the packets an RTSP session forwards (RFC 3550 6.4.1).

Packets go out as the source sent them (its SSRC, sequence numbers and timestamps), so our
reports speak for that SSRC: the RTP timestamp of "now" is the last forwarded packet's,
advanced by the time since it was forwarded at the track's clock rate; the NTP time is the
wall clock. That is the mapping players use to line up audio and video.
"""

from __future__ import annotations

import struct

from wcs.rtp.rtcp import Bye, RtcpPacket, Sdes, SenderReport, serialize_compound
from wcs.rtp.sr import seconds_to_ntp

_HEAD = struct.Struct("!II")  # RTP timestamp, SSRC (bytes 4..12 of the header)


class TrackReports:
    """Counts one track's forwarded packets and builds its SR (+ CNAME, + BYE at the end)."""

    __slots__ = ("_sent_at", "clock_rate", "cname", "last_ts", "octets", "packets", "ssrc")

    def __init__(self, clock_rate: int, cname: str = "wcs") -> None:
        self.clock_rate = clock_rate
        self.cname = cname
        self.ssrc: int | None = None
        self.last_ts = 0
        self.packets = 0
        self.octets = 0
        self._sent_at = 0.0

    def on_packet(self, packet: bytes, now: float) -> None:
        if len(packet) < 12:
            return
        self.last_ts, self.ssrc = _HEAD.unpack_from(packet, 4)
        self.packets += 1
        self.octets += len(packet) - 12
        self._sent_at = now

    def report(self, now: float, wall: float, bye: bool = False) -> bytes | None:
        """The compound SR (+ SDES CNAME, + BYE); None before the first packet."""
        if self.ssrc is None:
            return None
        rtp_ts = self.last_ts + round((now - self._sent_at) * self.clock_rate)
        sr = SenderReport(self.ssrc, seconds_to_ntp(wall), rtp_ts, self.packets, self.octets)
        packets: list[RtcpPacket] = [sr, Sdes.cname_for(self.ssrc, self.cname)]
        if bye:
            packets.append(Bye([self.ssrc]))
        return serialize_compound(packets)
