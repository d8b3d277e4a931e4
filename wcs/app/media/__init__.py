"""A SIP call's media: a sans-IO core and a thin socket edge.

- :mod:`.core`: :class:`CallMediaCore` — offer/answer, hold policy, the RTP sessions, the
  inactivity watch, the stream generators' deadlines and when to publish; no socket, no loop;
- :mod:`.negotiation`: the SDP offer/answer of one call (our offer, answers, re-offers);
- :mod:`.tracks`: the stream tracks the negotiated m-lines describe;
- :mod:`.outlet`: :class:`HubOutlet`, the one place that calls the stream hub;
- :mod:`.events`: what the core asks of the call (:class:`SendInfo`, :class:`MediaFailed`);
- :mod:`.sdes`: :class:`SdesKeying` — SDES-SRTP keys in offers/answers, the ``sip_srtp`` policy;
- :mod:`.dtls_srtp`: :class:`DtlsSrtp` — DTLS-SRTP toward the peer (fingerprint, setup,
  one association per RTP/RTCP port) on the WebRTC DTLS core;
- :mod:`.secure`: :class:`MediaProtection` — the SRTP contexts the edge applies per m-line;
- :mod:`.edge`: :class:`CallMedia` — bound sockets, ``add_reader`` batches, SRTP, one Pump;
- :mod:`.factory`: :class:`CallMediaFactory`, one per server, created with its loop;
- :mod:`.config`: :class:`MediaConfig` and :class:`CallControl`.
"""

from .config import DIRECT_RTMP_PREFIX, RTP_ACTIVITY_FAILED, CallControl, MediaConfig
from .core import CallMediaCore, Route, StreamOutlet
from .edge import CallMedia
from .events import MediaEvent, MediaFailed, SendInfo
from .factory import CallMediaFactory
from .outlet import HubOutlet

__all__ = [
    "DIRECT_RTMP_PREFIX",
    "RTP_ACTIVITY_FAILED",
    "CallControl",
    "CallMedia",
    "CallMediaCore",
    "CallMediaFactory",
    "HubOutlet",
    "MediaConfig",
    "MediaEvent",
    "MediaFailed",
    "Route",
    "SendInfo",
    "StreamOutlet",
]
