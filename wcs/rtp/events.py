"""What an :class:`wcs.rtp.session.RtpSession` tells its owner (``next_event()``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeyframeInfoNeeded:
    """PLI and FIR went unanswered: ask the peer over SIP INFO (``picture_fast_update``)."""

    kind: str


RtpEvent = KeyframeInfoNeeded
