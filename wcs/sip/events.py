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


# `raw` (the message that caused the event) is for logging only: not compared, not in repr.


@dataclass(frozen=True)
class CallTrying(Event):
    ref: str
    status: int
    raw: SipMessage | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class CallRinging(Event):
    ref: str
    status: int
    reason: str
    sdp: bytes | None
    raw: SipMessage | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class CallProgress(Event):
    ref: str
    status: int
    reason: str
    sdp: bytes | None
    raw: SipMessage | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class CallAnswered(Event):
    ref: str
    status: int
    reason: str
    sdp: bytes | None
    raw: SipMessage | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class CallFailed(Event):
    ref: str
    status: int | None
    reason: str
    info: str
    raw: SipMessage | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class CallEnded(Event):
    ref: str
    by_remote: bool
    status: int | None
    info: str
    raw: SipMessage | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RemoteOffer(Event):
    ref: str
    sdp: bytes | None
    method: str
    raw: SipMessage | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RemoteAnswer(Event):
    ref: str
    sdp: bytes
    raw: SipMessage | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class InfoReceived(Event):
    ref: str
    content_type: str
    body: bytes
    raw: SipMessage | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DtmfInfoSent(Event):
    """A key we sent by INFO got its final answer (``status`` 408: no answer); ``dropped``:
    the keys after it that were not sent because it failed."""

    ref: str
    digit: str
    status: int
    reason: str
    dropped: str = ""


@dataclass(frozen=True)
class OfferAnswered(Event):
    """Our re-INVITE's final answer (``status`` None: no answer at all)."""

    ref: str
    status: int | None
    reason: str
    raw: SipMessage | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class TransferUpdate(Event):
    """A step of our REFER: its answer, then the NOTIFYs' sipfrag (RFC 3515)."""

    ref: str
    progress: TransferProgress
