"""SIP user agent: messages, digest auth, transactions, dialogs, transports (RFC 3261).

The core is sans-IO: :class:`UserAgent` is fed bytes and the time and returns datagrams,
timers and :mod:`events <wcs.sip.events>`; :class:`SipTransport` is its asyncio edge
(UDP and TCP on one port). Placing a call::

    ua = UserAgent(local_port=0, public_ip="192.0.2.10")
    sip = SipTransport(ua, "0.0.0.0", 0, on_event)   # on_event(wcs.sip.events.Event)
    await sip.start()
    ua.invite("call-1", Account("1001", "pbx.example", password="..."), "1002", sdp, sip.now())
    sip.wake()                                        # flush what the core wants to send
    ...                                               # CallRinging, CallAnswered, ...
    ua.hangup("call-1", sip.now()); sip.wake()

``examples/call_to_wav.py`` is a complete program. Messages alone: :func:`parse_message`,
:class:`SipRequest`, :class:`SipResponse` (``.serialize()``).

Layers, bottom up: ``message``/``uri``/``via``/``grammar`` (the wire format), ``auth``
(digest), ``transaction`` (RFC 3261 §17, on a ``timers.TimerQueue``), ``dialog`` (§12).
The user agent on top is one module per concept: ``endpoint`` (what its parts share),
``outgoing`` (a request with its digest retries), ``registration``, ``call`` (call state,
BYE, INFO), ``invite`` (our INVITE to its 2xx), ``in_dialog`` (the peer's requests),
``session_timer`` (RFC 4028), ``uas`` (the peer's INVITE up to its ACK: the UAS role,
on with ``UserAgent(incoming=True)``), ``inbound`` (checks before routing),
``digest_server`` (the challenges we send), and ``ua``, the :class:`UserAgent` facade that
owns them and routes what arrives.

Receiving a call: with ``incoming=True`` a peer's INVITE surfaces as
:class:`~wcs.sip.events.IncomingCall`; answer it with ``ua.ring(ref, now)``,
``ua.accept(ref, sdp, now)``, ``ua.reject(ref, status, reason, now)`` or
``ua.redirect(ref, contacts, now)``; the ACK gives ``CallAnswered``.
"""

from . import events
from .errors import SipParseError
from .message import Headers, SipMessage, SipRequest, SipResponse, parse_message
from .transaction import SipTimers
from .transport import SipTransport
from .ua import Account, CallInfo, UserAgent
from .uri import NameAddr, SipUri
from .via import Via

__all__ = [
    "Account",
    "CallInfo",
    "Headers",
    "NameAddr",
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "SipTimers",
    "SipTransport",
    "SipUri",
    "UserAgent",
    "Via",
    "events",
    "parse_message",
]
