"""What an :class:`wcs.rtp.session.RtpSession` tells its owner (``next_event()``)."""

from __future__ import annotations

from dataclasses import dataclass

from wcs.media.dtmf import DtmfKey
from wcs.rtp.dtmf.sender import DtmfSent
from wcs.rtp.outgoing_audio import SoundEnded


@dataclass(frozen=True, slots=True)
class KeyframeInfoNeeded:
    """PLI and FIR went unanswered: ask the peer over SIP INFO (``picture_fast_update``)."""

    kind: str


# A key the peer sent (RFC 4733), a key of ours fully sent, an injected sound's end.
RtpEvent = KeyframeInfoNeeded | DtmfKey | DtmfSent | SoundEnded
