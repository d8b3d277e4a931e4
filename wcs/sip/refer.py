"""Blind transfer by REFER (RFC 3515) and its progress (NOTIFY ``message/sipfrag``).

Pure functions and one small state machine, independent of the user agent:

- :func:`refer_headers` builds the REFER's ``Refer-To`` (RFC 3515 §2.1), ``Referred-By``
  (RFC 3892) and, when asked, ``Refer-Sub: false`` (RFC 4488: no implicit subscription);
- :func:`parse_sipfrag` reads the status line a NOTIFY carries (RFC 3420, RFC 3515 §2.4.5);
  :func:`parse_subscription_state` its ``Subscription-State`` (RFC 6665 §8.2.3);
- :class:`TransferTracker` turns the REFER's answer and each NOTIFY into
  :class:`TransferProgress` events with WCS transfer statuses (ACCEPTED, TRYING, COMPLETED,
  FAILED), and says how to answer each NOTIFY (200, or 400/489 for a bad one).

The call that asked for the transfer ends when the transfer is COMPLETED (the transferee's
new call got a 2xx: RFC 5589 §6.1); that is the caller's decision, not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SipParseError
from .grammar import parse_params
from .uri import NameAddr, SipUri

ACCEPTED = "ACCEPTED"
TRYING = "TRYING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
SIPFRAG = "message/sipfrag"
MAX_SIPFRAG = 4096


class ReferError(ValueError):
    """A transfer target or a NOTIFY that cannot be used; the message is safe to show."""


# ------------------------------------------------------------------------ building REFER


def transfer_target(target: str, domain: str | None = None) -> SipUri:
    """The URI to transfer to: ``sip:1003@pbx``, ``1003@pbx``, or ``1003`` (in ``domain``,
    usually the call's registrar). ReferError naming ``target`` otherwise."""
    text = target.strip() if isinstance(target, str) else ""
    if not text or len(text) > 512 or any(c in text for c in '<>"\r\n \t'):
        raise ReferError("target must be a SIP URI, user@host or a number")
    if not text.lower().startswith(("sip:", "sips:")):
        if "@" not in text:
            if not domain:
                raise ReferError("target needs a host (user@host) for this call")
            text = f"{text}@{domain}"
        text = "sip:" + text
    try:
        uri = SipUri.parse(text)
    except SipParseError:
        raise ReferError("target is not a valid SIP URI") from None
    if uri.password is not None:
        raise ReferError("target must not carry a password")
    return uri


def refer_headers(
    target: SipUri, referred_by: SipUri | NameAddr | None = None, *, subscribe: bool = True
) -> list[tuple[str, str]]:
    """Headers of a blind-transfer REFER (the caller adds the dialog's own)."""
    headers = [("Refer-To", f"<{target}>")]
    if referred_by is not None:
        addr = (
            referred_by.copy()
            if isinstance(referred_by, NameAddr)
            else NameAddr(referred_by.copy())
        )
        addr.uri.password = None  # never a secret on the wire to a third party
        addr.params.pop("tag", None)
        headers.append(("Referred-By", str(addr)))
    if not subscribe:
        headers.append(("Refer-Sub", "false"))
    return headers


def parse_refer_to(value: str) -> SipUri:
    """The URI of a received ``Refer-To`` (an incoming REFER); ReferError if unusable."""
    try:
        return NameAddr.parse(value).uri
    except SipParseError:
        raise ReferError("Refer-To is not a SIP URI") from None


# ------------------------------------------------------------------------ reading NOTIFY


@dataclass(frozen=True, slots=True)
class SipFrag:
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    state: str  # active, pending, terminated (or an extension value, lower case)
    reason: str | None = None
    expires: int | None = None

    @property
    def terminated(self) -> bool:
        return self.state == "terminated"


def parse_sipfrag(body: bytes) -> SipFrag:
    """The status line of a ``message/sipfrag`` body (headers after it are ignored)."""
    if len(body) > MAX_SIPFRAG:
        raise ReferError("sipfrag body too long")
    line = body.decode("utf-8", "replace").lstrip("\r\n").split("\n", 1)[0].strip()
    version, _, rest = line.partition(" ")
    code, _, reason = rest.strip().partition(" ")
    if version.upper() != "SIP/2.0" or len(code) != 3 or not code.isdigit():
        raise ReferError(f"sipfrag is not a SIP status line: {line[:40]!r}")
    status = int(code)
    if not 100 <= status <= 699:
        raise ReferError(f"sipfrag status {status} out of range")
    return SipFrag(status, reason.strip())


def parse_subscription_state(value: str) -> SubscriptionState:
    state, _, params_text = value.strip().partition(";")
    state = state.strip().lower()
    if not state or not state.replace("-", "").isalnum():
        raise ReferError("Subscription-State has no state")
    try:
        params = parse_params(params_text)
    except SipParseError:
        raise ReferError("Subscription-State parameters are malformed") from None
    expires_text = params.get("expires")
    expires = int(expires_text) if expires_text and expires_text.isdigit() else None
    return SubscriptionState(state, params.get("reason"), expires)


def is_refer_event(event: str | None) -> bool:
    """``Event: refer`` (with or without ``;id=``), RFC 3515 §2.4.4."""
    return event is not None and event.partition(";")[0].strip().lower() == "refer"


# ------------------------------------------------------------------------ progress


@dataclass(frozen=True, slots=True)
class TransferProgress:
    """One step of a transfer, as WCS TransferStatusEvent reports it."""

    status: str  # ACCEPTED, TRYING, COMPLETED, FAILED
    sip_status: int  # the REFER's answer, or the sipfrag's status
    reason: str
    final: bool  # nothing more will come (COMPLETED or FAILED)


def _status_of(code: int) -> str:
    if code < 200:
        return TRYING
    return COMPLETED if code < 300 else FAILED


class TransferTracker:
    """One REFER's outcome: feed its final answer, then each NOTIFY of its subscription."""

    def __init__(self) -> None:
        self.last: TransferProgress | None = None
        self.subscribed = True

    @property
    def final(self) -> bool:
        return self.last is not None and self.last.final

    def on_refer_response(
        self, code: int, reason: str = "", refer_sub: str | None = None
    ) -> TransferProgress | None:
        """The REFER's final answer: 2xx (202 Accepted) -> ACCEPTED, else FAILED. A 2xx with
        ``Refer-Sub: false`` (RFC 4488) means no NOTIFY will come: the transfer is out of our
        sight, reported COMPLETED. Provisional answers give nothing."""
        if code < 200 or self.final:
            return None
        if code >= 300:
            return self._set(TransferProgress(FAILED, code, reason, True))
        if refer_sub is not None and refer_sub.strip().lower() == "false":
            self.subscribed = False
            return self._set(TransferProgress(COMPLETED, code, reason, True))
        return self._set(TransferProgress(ACCEPTED, code, reason, False))

    def on_notify(
        self,
        event: str | None,
        subscription_state: str | None,
        content_type: str | None,
        body: bytes,
    ) -> tuple[int, TransferProgress | None]:
        """(code to answer the NOTIFY with, progress or None). 489 for another event
        package, 400 for a missing/garbled Subscription-State or sipfrag."""
        if not is_refer_event(event):
            return 489, None
        if subscription_state is None:
            return 400, None
        try:
            sub = parse_subscription_state(subscription_state)
        except ReferError:
            return 400, None
        frag: SipFrag | None = None
        if body.strip():
            media = (content_type or "").partition(";")[0].strip().lower()
            if media != SIPFRAG:
                return 415, None
            try:
                frag = parse_sipfrag(body)
            except ReferError:
                return 400, None
        if self.final:
            return 200, None  # a repeat after the outcome: acknowledged, nothing new
        if frag is not None:
            status = _status_of(frag.status)
            final = status != TRYING
            if sub.terminated and not final:
                # The subscription ended before the new call was answered (RFC 3515 §2.4.7).
                return 200, self._set(
                    TransferProgress(FAILED, frag.status, sub.reason or "terminated", True)
                )
            return 200, self._set(TransferProgress(status, frag.status, frag.reason, final))
        if sub.terminated:
            return 200, self._set(TransferProgress(FAILED, 0, sub.reason or "terminated", True))
        return 200, None

    def _set(self, progress: TransferProgress) -> TransferProgress:
        self.last = progress
        return progress
