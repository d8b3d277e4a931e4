"""DTMF keys: the alphabet, its RFC 4733 event codes, and the one event a received key becomes.

Keys are ``0-9 * # A-D`` (RFC 4733 §3.2: events 0-15). A request's string is checked here
once (:func:`parse_digits`) so every carrier (RFC 4733 events, SIP INFO bodies) refuses the
same garbage with the same message. A received key, whatever carried it, is one
:class:`DtmfKey`; its ``source`` is the WCS ``type`` name of the carrier.
"""

from __future__ import annotations

from dataclasses import dataclass

DIGITS = "0123456789*#ABCD"  # index = RFC 4733 event code
MAX_DIGITS = 64  # one request; also the bound of a call's queue
MIN_TONE_MS = 40  # shorter tones are not reliably detected by PSTN gateways
MAX_TONE_MS = 1000  # fits RFC 4733 16-bit durations at 48 kHz (65535 / 48 = 1365 ms)

# WCS ``/call/send_dtmf`` ``type`` values (issue 19: INFO = application/dtmf-relay,
# INFO_RELAY = application/dtmf).
RFC2833 = "RFC2833"
INFO = "INFO"
INFO_RELAY = "INFO_RELAY"
TYPES = (RFC2833, INFO, INFO_RELAY)


class DtmfError(ValueError):
    """Unusable DTMF input; the message names what is wrong and is safe to show."""


def event_code(digit: str) -> int:
    """RFC 4733 event code of one key (case-insensitive for A-D)."""
    code = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise DtmfError(f"dtmf key {digit!r} is not one of 0-9 * # A-D")
    return code


def digit_of(code: int) -> str | None:
    """The key of an RFC 4733 event code, None for non-DTMF events (flash, tones…)."""
    return DIGITS[code] if 0 <= code < 16 else None


def parse_digits(text: str, limit: int = MAX_DIGITS) -> str:
    """A request's keys, upper-cased; DtmfError for an empty, too long or foreign string."""
    if not isinstance(text, str) or not text:
        raise DtmfError("dtmf must be a non-empty string of 0-9 * # A-D")
    if len(text) > limit:
        raise DtmfError(f"dtmf has more than {limit} keys")
    keys = text.upper()
    bad = sorted({c for c in keys if c not in DIGITS})
    if bad:
        raise DtmfError(f"dtmf has keys outside 0-9 * # A-D: {''.join(bad)!r}")
    return keys


def parse_type(value: str | None) -> str:
    """The WCS DTMF ``type`` (default RFC2833, case-insensitive); DtmfError otherwise."""
    if value is None or value == "":
        return RFC2833
    upper = str(value).upper()
    if upper not in TYPES:
        raise DtmfError(f"type must be one of {', '.join(TYPES)}")
    return upper


@dataclass(frozen=True, slots=True)
class DtmfSettings:
    """How a call sends keys (RFC 4733 and SIP INFO alike)."""

    tone_ms: int = 160  # default key length
    gap_ms: int = 100  # between two keys
    volume: int = 10  # -dBm0 (RFC 4733 §2.3.2)
    end_packets: int = 3  # RFC 4733 §2.5.1.4
    max_queue: int = MAX_DIGITS  # keys waiting per call


def parse_request(
    digits: str, tone_ms: int | None, settings: DtmfSettings, queued: int
) -> list[tuple[str, int]]:
    """(key, tone ms) for each key of a send request, checked against the settings and the
    ``queued`` keys already waiting; DtmfError (nothing to queue) otherwise."""
    keys = parse_digits(digits)
    ms = settings.tone_ms if tone_ms is None else tone_ms
    if not MIN_TONE_MS <= ms <= MAX_TONE_MS:
        raise DtmfError(f"duration must be {MIN_TONE_MS}-{MAX_TONE_MS} ms")
    if queued + len(keys) > settings.max_queue:
        raise DtmfError(f"more than {settings.max_queue} keys waiting for this call")
    return [(k, ms) for k in keys]


@dataclass(frozen=True, slots=True)
class DtmfKey:
    """One key received from the peer, reported exactly once."""

    digit: str
    duration_ms: int  # 0 when the carrier did not say
    source: str  # RFC2833, INFO (application/dtmf-relay) or INFO_RELAY (application/dtmf)
    ssrc: int | None = None  # RFC 4733 only: the RTP source that sent it
