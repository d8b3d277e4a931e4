"""The built-in demo callee: a SIP endpoint that answers calls to ``demo`` with a test card.

``/call/startup`` with ``callee: "demo"`` and no ``sipDomain`` is routed to it when the
``demo_callee`` setting is on (the default), so a call becomes a playable stream with no SIP
server at hand. Its SIP side is our own UAS (:class:`wcs.sip.ua.UserAgent` with the UAS
role) under a small answering policy (:class:`DemoAnswerer`: ring delay, maximum duration,
404/488/503); :class:`DemoCallee` is its asyncio edge and the media clock (H.264 test card at
15 fps, PCMU beep).
"""

from .answerer import CallEnded, CallStarted, CallUpdated, DemoAnswerer, MediaTarget, demo_codecs
from .callee import DemoCallee
from .testcard import Picture, TestCard

__all__ = [
    "CallEnded",
    "CallStarted",
    "CallUpdated",
    "DemoAnswerer",
    "DemoCallee",
    "MediaTarget",
    "Picture",
    "TestCard",
    "demo_codecs",
]
