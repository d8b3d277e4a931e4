"""RFC 4733 §2.3 telephone-event payload: event, E bit, volume, duration (4 bytes).

Parsing is :func:`wcs.media.audio.parse_telephone_event`; this is the other direction.
"""

from __future__ import annotations

MAX_DURATION = 0xFFFF  # clock units; longer events need segments (RFC 4733 §2.5.1.3)


def event_payload(event: int, end: bool, volume: int, duration: int) -> bytes:
    if not 0 <= event <= 255:
        raise ValueError(f"event code {event} out of range")
    if not 0 <= volume <= 63:
        raise ValueError(f"volume {volume} out of range (0-63 -dBm0)")
    if not 0 <= duration <= MAX_DURATION:
        raise ValueError(f"duration {duration} does not fit 16 bits")
    return bytes((event, (0x80 if end else 0) | volume, duration >> 8, duration & 0xFF))
