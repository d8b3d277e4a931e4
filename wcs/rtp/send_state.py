"""The state of one outgoing RTP stream (SSRC, next sequence number, next timestamp).

Everything that sends on a call's audio stream — silence, an injected sound, DTMF events —
takes its header fields from the one :class:`SendState`, so sequence numbers and timestamps
stay continuous whoever produced the packet (RFC 3550 §5.1; RFC 4733 §2.1: events share
the audio's SSRC, sequence space and clock).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_HEAD = struct.Struct("!BBHII")


@dataclass(slots=True)
class SendState:
    ssrc: int
    sequence: int  # of the next packet
    timestamp: int  # RTP time of the next packet's first sample
    packets: int = 0  # sent so far (RTCP SR sender's packet count)
    octets: int = 0  # payload octets sent so far (RTCP SR)

    def packet(
        self,
        payload_type: int,
        payload: bytes,
        step: int,
        *,
        marker: bool = False,
        timestamp: int | None = None,
    ) -> bytes:
        """One RTP packet at the current position; then the sequence number moves by one and
        the timestamp by ``step`` clock units. ``timestamp`` overrides the header's value
        (an RFC 4733 event keeps its start time in every packet while the clock runs on)."""
        ts = self.timestamp if timestamp is None else timestamp
        head = _HEAD.pack(
            0x80,
            (0x80 if marker else 0) | (payload_type & 0x7F),
            self.sequence,
            ts & 0xFFFFFFFF,
            self.ssrc & 0xFFFFFFFF,
        )
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + step) & 0xFFFFFFFF
        self.packets += 1
        self.octets += len(payload)
        return head + payload

    def skip(self, step: int) -> None:
        """Let ``step`` clock units pass without a packet (a stall, silence suppression)."""
        self.timestamp = (self.timestamp + step) & 0xFFFFFFFF
