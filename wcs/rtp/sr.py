"""NTP timestamps and the RTP-timestamp → wall-clock mapping carried by RTCP SRs (RFC 3550 §6.4.1).

Audio and video of one caller share the sender's NTP clock: mapping each track's RTP
timestamps through its own last SR puts both on one timeline (lip sync).
"""

from __future__ import annotations

__all__ = [
    "NTP_UNIX_OFFSET",
    "SenderClock",
    "ntp_middle32",
    "ntp_to_seconds",
    "seconds_to_ntp",
    "signed32",
]

NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)


def ntp_to_seconds(ntp: int) -> float:
    """64-bit NTP timestamp → seconds since the Unix epoch."""
    return (ntp >> 32) - NTP_UNIX_OFFSET + (ntp & 0xFFFFFFFF) / 4294967296.0


def seconds_to_ntp(seconds: float) -> int:
    """Seconds since the Unix epoch → 64-bit NTP timestamp."""
    whole = int(seconds // 1)
    frac = int((seconds - whole) * 4294967296.0) & 0xFFFFFFFF
    return (((whole + NTP_UNIX_OFFSET) & 0xFFFFFFFF) << 32) | frac


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits, as used for LSR in report blocks."""
    return (ntp >> 16) & 0xFFFFFFFF


def signed32(value: int) -> int:
    """A 32-bit modular difference as a signed number (RTP timestamps wrap)."""
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value


class SenderClock:
    """Maps a source's RTP timestamps to its wall clock, from the last SR it sent."""

    __slots__ = ("clock_rate", "ntp_seconds", "rtp_timestamp")

    def __init__(self, clock_rate: int) -> None:
        if clock_rate <= 0:
            raise ValueError("clock_rate must be positive")
        self.clock_rate = clock_rate
        self.ntp_seconds: float | None = None
        self.rtp_timestamp = 0

    @property
    def synchronized(self) -> bool:
        return self.ntp_seconds is not None

    def update(self, ntp_timestamp: int, rtp_timestamp: int) -> None:
        """Take the (NTP, RTP) pair of a new SR; later SRs simply replace it, which also
        follows a sender whose RTP timestamps jumped."""
        self.ntp_seconds = ntp_to_seconds(ntp_timestamp)
        self.rtp_timestamp = rtp_timestamp & 0xFFFFFFFF

    def wallclock(self, rtp_timestamp: int) -> float | None:
        """Sender wall-clock time (Unix seconds) of a sample, or None before the first SR.

        The difference is taken modulo 2^32 as a signed number, so timestamps shortly before
        the SR and across a wrap map correctly.
        """
        if self.ntp_seconds is None:
            return None
        return self.ntp_seconds + signed32(rtp_timestamp - self.rtp_timestamp) / self.clock_rate
