"""Per-call RTP numbering for demo media: random SSRC, sequence and timestamp bases."""

from __future__ import annotations

import secrets

from wcs.rtp.packet import pack_header


class RtpOut:
    """Wraps payloads in RTP headers for one outgoing track (RFC 3550 §5.1)."""

    __slots__ = ("clock_rate", "payload_type", "sequence", "ssrc", "ts_base")

    def __init__(self, payload_type: int, clock_rate: int) -> None:
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.ssrc = secrets.randbits(32)
        self.sequence = secrets.randbits(16)
        self.ts_base = secrets.randbits(32)

    def packets(self, payloads: list[bytes], timestamp: int) -> list[bytes]:
        """One access unit (or audio frame): same timestamp, marker on the last packet."""
        out = []
        ts = (self.ts_base + timestamp) & 0xFFFFFFFF
        last = len(payloads) - 1
        for i, payload in enumerate(payloads):
            head = pack_header(self.payload_type, self.sequence, ts, self.ssrc, i == last)
            out.append(head + payload)
            self.sequence = (self.sequence + 1) & 0xFFFF
        return out
