"""What a call's media core asks of its owner (``CallMediaCore.next_event()``).

Besides these, the core passes on what its RTP sessions report: a key the peer sent
(:class:`~wcs.media.dtmf.DtmfKey`), a key of ours fully sent (:class:`DtmfSent`), the end
of an injected sound (:class:`SoundEnded`)."""

from __future__ import annotations

from dataclasses import dataclass

from wcs.app.media.config import RTP_ACTIVITY_FAILED
from wcs.media.dtmf import DtmfKey
from wcs.rtp.dtmf import DtmfSent
from wcs.rtp.keyframe import MEDIA_CONTROL_TYPE, PICTURE_FAST_UPDATE
from wcs.rtp.outgoing_audio import SoundEnded


@dataclass(frozen=True, slots=True)
class SendInfo:
    """Send a SIP INFO in the call's dialog (a keyframe request the RTCP ladder gave up on)."""

    content_type: str = MEDIA_CONTROL_TYPE
    body: bytes = PICTURE_FAST_UPDATE


@dataclass(frozen=True, slots=True)
class MediaFailed:
    """The media path is dead (no RTP for the activity timeout): fail the call with ``info``."""

    info: str = RTP_ACTIVITY_FAILED


MediaEvent = SendInfo | MediaFailed | DtmfKey | DtmfSent | SoundEnded
