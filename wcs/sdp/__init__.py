"""SDP (RFC 8866): a typed model with parse/serialize, H.264 fmtp rules and offer/answer.

Shared by the SIP side (offers to the callee, re-INVITE answers) and WebRTC (browser offers).
The model keeps every known attribute in a typed field and every other attribute, in order,
in ``attributes`` so ``parse(str(parse(x))) == parse(x)``. Any malformed input raises
:class:`SdpError` and nothing else (the SIP side turns it into 488).

One concept per module; import from here (the names below are the package's API):

- :mod:`.errors` -- :class:`SdpError`
- :mod:`.fmtp` -- ``a=fmtp`` parameter strings
- :mod:`.model` -- the leaf values (o=, c=, b=, t=, typed attributes) and :class:`Codec`
- :mod:`.media` -- :class:`MediaDescription`; :mod:`.session` -- :class:`SessionDescription`
- :mod:`.parser` -- text to model, attributes dispatched through one table per level
- :mod:`.h264` -- RFC 6184 profile-level-id / packetization-mode rules
- :mod:`.codecs` -- codec matching/selection and our default codec lists
- :mod:`.direction` -- effective direction and hold
- :mod:`.offer_answer` -- RFC 3264: our offer, negotiating its answer, answering an offer
- :mod:`.sdes` -- RFC 4568 SDES suites, fresh keys, strict ``inline:`` key parsing, log masking
"""

from __future__ import annotations

from .codecs import (
    codecs_match,
    default_audio_codecs,
    default_video_codecs,
    select_codecs,
)
from .direction import answer_direction, direction_of, is_hold, zero_address_hold
from .errors import SdpError
from .fmtp import parse_fmtp
from .h264 import (
    H264ProfileLevel,
    h264_answer_level,
    h264_packetization_mode,
    h264_profile_level,
    h264_profiles_compatible,
)
from .media import MediaDescription
from .model import DIRECTIONS as DIRECTIONS  # module constants of the former wcs/sdp.py
from .model import STATIC_PAYLOAD_TYPES as STATIC_PAYLOAD_TYPES
from .model import (
    Bandwidth,
    Codec,
    ConnectionData,
    Crypto,
    Extmap,
    Fingerprint,
    Group,
    Origin,
    RtcpAddress,
    SsrcAttribute,
    SsrcGroup,
    Timing,
)
from .offer_answer import NegotiatedMedia, answer_offer, build_offer, negotiate_answer
from .session import CRLF as CRLF
from .session import SessionDescription

__all__ = [
    "Bandwidth",
    "Codec",
    "ConnectionData",
    "Crypto",
    "Extmap",
    "Fingerprint",
    "Group",
    "H264ProfileLevel",
    "MediaDescription",
    "NegotiatedMedia",
    "Origin",
    "RtcpAddress",
    "SdpError",
    "SessionDescription",
    "SsrcAttribute",
    "SsrcGroup",
    "Timing",
    "answer_direction",
    "answer_offer",
    "build_offer",
    "codecs_match",
    "default_audio_codecs",
    "default_video_codecs",
    "direction_of",
    "h264_answer_level",
    "h264_packetization_mode",
    "h264_profile_level",
    "h264_profiles_compatible",
    "is_hold",
    "negotiate_answer",
    "parse_fmtp",
    "select_codecs",
    "zero_address_hold",
]
