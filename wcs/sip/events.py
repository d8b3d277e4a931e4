"""Events of the SIP user agent: everything that happens surfaces as one of these."""

from __future__ import annotations

from dataclasses import dataclass, field

from .message import SipMessage
from .refer import TransferProgress


@dataclass(frozen=True)
class Event:
    """Base of every UA event."""


@dataclass(frozen=True)
class RegistrationSucceeded(Event):
    reg_id: str
    expires: int


@dataclass(frozen=True)
class RegistrationFailed(Event):
    reg_id: str
    status: int | None
    reason: str
    info: str


@dataclass(frozen=True)
class RegistrationEnded(Event):
    reg_id: str


@dataclass(frozen=True)
class CallEvent(Event):
    """Base of the events of one call (``ref``). ``raw``, the message that caused the event, is
    for logging only: keyword-only, not compared, not in repr."""

    ref: str
    raw: SipMessage | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class IncomingCall(CallEvent):
    """A peer's initial INVITE (UAS role): answer it with ``UserAgent.accept``, ``ring``,
    ``reject`` or ``redirect``. ``caller``/``callee`` are the From and Request-URI users;
    ``authorization`` the request's Authorization header, for a trunk's digest check."""

    caller: str
    callee: str
    from_uri: str
    request_uri: str
    sdp: bytes | None
    source: tuple[str, int]
    transport: str
    authorization: str | None = None


@dataclass(frozen=True)
class CallTrying(CallEvent):
    status: int


@dataclass(frozen=True)
class CallResponse(CallEvent):
    """Base of the responses that carry a reason and maybe SDP (18x, 2xx)."""

    status: int
    reason: str
    sdp: bytes | None


@dataclass(frozen=True)
class CallRinging(CallResponse):
    pass


@dataclass(frozen=True)
class CallProgress(CallResponse):
    pass


@dataclass(frozen=True)
class CallAnswered(CallResponse):
    pass


@dataclass(frozen=True)
class CallFailed(CallEvent):
    status: int | None
    reason: str
    info: str


@dataclass(frozen=True)
class CallReleased(CallEvent):
    """The call is released (Q.850): over after its 2xx (BYE either way, session-timer expiry)
    or cancelled by us (the 487). :class:`CallFailed`: refused or unreachable before any 2xx."""

    by_remote: bool
    status: int | None
    info: str


@dataclass(frozen=True)
class RemoteOffer(CallEvent):
    sdp: bytes | None
    method: str


@dataclass(frozen=True)
class RemoteAnswer(CallEvent):
    sdp: bytes


@dataclass(frozen=True)
class InfoReceived(CallEvent):
    content_type: str
    body: bytes


@dataclass(frozen=True)
class DtmfInfoSent(CallEvent):
    """A key we sent by INFO got its final answer (``status`` 408: no answer); ``dropped``:
    the keys after it that were not sent because it failed."""

    digit: str
    status: int
    reason: str
    dropped: str = ""


@dataclass(frozen=True)
class OfferAnswered(CallEvent):
    """Our re-INVITE's final answer (``status`` None: no answer at all)."""

    status: int | None
    reason: str


@dataclass(frozen=True)
class TransferUpdate(CallEvent):
    """A step of our REFER: its answer, then the NOTIFYs' sipfrag (RFC 3515)."""

    progress: TransferProgress


@dataclass(frozen=True)
class ReferReceived(CallEvent):
    """The peer asked us (REFER, RFC 3515) to call ``target``; we answered 202 and sent the
    first NOTIFY (100 Trying). The app reports the new call's progress with
    :meth:`UserAgent.notify_refer`."""

    target: str
    referred_by: str | None = None
