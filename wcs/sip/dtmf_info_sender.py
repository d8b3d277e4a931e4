"""Sending a call's DTMF keys by SIP INFO, one request at a time (sans-IO pacing).

RFC 6086 §4.2.1 lets a dialog have one INFO outstanding at a time, and a peer turns each
INFO into a tone of ``Duration`` ms: so the next key goes when the previous INFO got its
final response *and* its tone plus the inter-key gap has passed. A final error (a peer
answering 405 or 501 to INFO, 481 after the dialog ended, a timeout the caller reports as
408) drops the keys still queued: they would fail the same way, and later keys without the
earlier ones are a wrong PIN. The user agent builds and sends the request; this class only
says what and when, and takes the answers.

Contract: ``queue()``, ``info_to_send(now)`` -> :class:`InfoToSend` or None,
``on_response(status, reason, now)``, ``get_timer()``, ``handle_timer(now)``, ``next_event()``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from wcs.media.dtmf import INFO, INFO_RELAY, DtmfSettings, parse_request

from .dtmf_info import info_body


@dataclass(frozen=True, slots=True)
class InfoToSend:
    digit: str
    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class InfoDtmfResult:
    """A key's INFO got its final response (2xx: delivered)."""

    digit: str
    status: int
    reason: str
    dropped: str = ""  # keys not sent because this one failed

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class InfoDtmfSender:
    def __init__(self, wcs_type: str = INFO, settings: DtmfSettings | None = None) -> None:
        if wcs_type not in (INFO, INFO_RELAY):
            raise ValueError(f"{wcs_type} is not sent by SIP INFO")
        self.wcs_type = wcs_type
        self.settings = settings or DtmfSettings()
        self._queue: deque[tuple[str, int]] = deque()
        self._in_flight: tuple[str, int] | None = None
        self._not_before = 0.0  # the previous key's tone and gap
        self._events: deque[InfoDtmfResult] = deque()

    def queue(self, digits: str, tone_ms: int | None = None) -> None:
        """Queue keys; DtmfError (nothing queued) for bad keys, tone length or a full queue."""
        self._queue.extend(parse_request(digits, tone_ms, self.settings, len(self._queue)))

    @property
    def pending(self) -> str:
        return "".join(k for k, _ in self._queue)

    @property
    def busy(self) -> bool:
        """An INFO is waiting for its final response."""
        return self._in_flight is not None

    def info_to_send(self, now: float) -> InfoToSend | None:
        if self._in_flight is not None or not self._queue or now < self._not_before:
            return None
        digit, ms = self._queue.popleft()
        self._in_flight = (digit, ms)
        self._not_before = now + (ms + self.settings.gap_ms) / 1000
        content_type, body = info_body(self.wcs_type, digit, ms)
        return InfoToSend(digit, content_type, body)

    def on_response(self, status: int, reason: str, now: float) -> None:
        """The outstanding INFO's answer (provisional ones are ignored)."""
        if self._in_flight is None or status < 200:
            return
        digit, _ = self._in_flight
        self._in_flight = None
        dropped = ""
        if status >= 300:
            dropped = self.pending
            self._queue.clear()
        self._events.append(InfoDtmfResult(digit, status, reason, dropped))

    def get_timer(self) -> float | None:
        if self._in_flight is None and self._queue:
            return self._not_before
        return None

    def handle_timer(self, now: float) -> None:
        """Nothing to do but let the caller ask ``info_to_send(now)`` again."""

    def next_event(self) -> InfoDtmfResult | None:
        return self._events.popleft() if self._events else None
