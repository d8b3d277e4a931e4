"""The built-in demo callee: a SIP endpoint that answers calls to ``demo`` with a test card.

``/call/startup`` with ``callee: "demo"`` and no ``sipDomain`` is routed to it when the
``demo_callee`` setting is on (the default), so a call becomes a playable stream with no SIP
server at hand. The SIP side (:class:`DemoUas`) is sans-IO; :class:`DemoCallee` is its
asyncio edge and the media clock (H.264 test card at 15 fps, PCMU beep).
"""

from .callee import DemoCallee
from .testcard import Picture, TestCard
from .uas import CallEnded, CallStarted, CallUpdated, DemoUas, MediaTarget, demo_codecs

__all__ = [
    "CallEnded",
    "CallStarted",
    "CallUpdated",
    "DemoCallee",
    "DemoUas",
    "MediaTarget",
    "Picture",
    "TestCard",
    "demo_codecs",
]
