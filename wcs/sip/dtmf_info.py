"""DTMF in SIP INFO bodies: ``application/dtmf-relay`` and ``application/dtmf``.

``application/dtmf-relay`` (no RFC; the de facto Cisco format every PBX speaks) is lines of
``Key=Value``: ``Signal=5`` and ``Duration=160`` (ms). Peers differ in spaces around ``=``,
the case of the keys, line ends (CRLF or LF) and leave ``Duration`` out; some send the
RFC 4733 event code (``Signal=11`` for ``#``). ``application/dtmf`` is the key alone.

WCS names them by its ``/call/send_dtmf`` ``type``: ``INFO`` sends dtmf-relay, ``INFO_RELAY``
sends application/dtmf (see :mod:`wcs.media.dtmf`). Parsing yields a
:class:`~wcs.media.dtmf.DtmfKey`; a body that does not carry one key raises
:class:`DtmfInfoError`, whose message is safe to log (it quotes at most a short prefix).
"""

from __future__ import annotations

from wcs.media.dtmf import DIGITS, INFO, INFO_RELAY, DtmfError, DtmfKey, digit_of

DTMF_RELAY = "application/dtmf-relay"
DTMF = "application/dtmf"
CONTENT_TYPES = {DTMF_RELAY: INFO, DTMF: INFO_RELAY}  # content type -> WCS type
MAX_BODY = 1024  # a key is a few bytes; anything larger is not one
MAX_DURATION_MS = 60_000


class DtmfInfoError(DtmfError):
    """An INFO body that does not carry one DTMF key."""


def _shown(body: bytes) -> str:
    return repr(body[:32].decode("utf-8", "replace"))


def media_type(content_type: str) -> str:
    """``Content-Type`` without parameters, lower case (``application/dtmf-relay``)."""
    return content_type.partition(";")[0].strip().lower()


def is_dtmf_info(content_type: str | None) -> bool:
    return content_type is not None and media_type(content_type) in CONTENT_TYPES


def _key(value: str) -> str | None:
    value = value.strip().upper()
    if len(value) == 1 and value in DIGITS:
        return value
    if value.isdigit() and len(value) <= 2:
        return digit_of(int(value))  # "10".."15": an RFC 4733 event code
    return None


def parse_relay(body: bytes) -> DtmfKey:
    """``Signal=5\\r\\nDuration=160\\r\\n`` (tolerant of spaces, case, LF, no Duration)."""
    if len(body) > MAX_BODY:
        raise DtmfInfoError(f"dtmf-relay body of {len(body)} bytes is too long")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise DtmfInfoError(f"dtmf-relay body is not ASCII: {_shown(body)}") from None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, eq, value = line.partition("=")
        if not eq:
            raise DtmfInfoError(f"dtmf-relay line without '=': {_shown(line.encode())}")
        fields.setdefault(name.strip().lower(), value.strip())
    if "signal" not in fields:
        raise DtmfInfoError(f"dtmf-relay body without Signal: {_shown(body)}")
    key = _key(fields["signal"])
    if key is None:
        raise DtmfInfoError(f"dtmf-relay Signal is not a DTMF key: {fields['signal'][:16]!r}")
    duration = 0
    if fields.get("duration"):
        raw = fields["duration"]
        if not raw.isdigit() or int(raw) > MAX_DURATION_MS:
            raise DtmfInfoError(f"dtmf-relay Duration is not a length in ms: {raw[:16]!r}")
        duration = int(raw)
    return DtmfKey(key, duration, INFO)


def parse_dtmf(body: bytes) -> DtmfKey:
    """``application/dtmf``: one key, surrounding whitespace allowed."""
    if len(body) > MAX_BODY:
        raise DtmfInfoError(f"application/dtmf body of {len(body)} bytes is too long")
    text = body.decode("ascii", "replace").strip().upper()
    if len(text) != 1 or text not in DIGITS:
        raise DtmfInfoError(f"application/dtmf body is not one DTMF key: {_shown(body)}")
    return DtmfKey(text, 0, INFO_RELAY)


def parse_info(content_type: str, body: bytes) -> DtmfKey:
    """The key of a DTMF INFO; DtmfInfoError for another content type or a bad body."""
    kind = media_type(content_type)
    if kind == DTMF_RELAY:
        return parse_relay(body)
    if kind == DTMF:
        return parse_dtmf(body)
    raise DtmfInfoError(f"INFO content type {kind[:64]!r} does not carry DTMF")


def format_relay(digit: str, duration_ms: int = 160) -> bytes:
    key = _key(digit) if len(digit) == 1 else None
    if key is None:
        raise DtmfInfoError(f"dtmf key {digit!r} is not one of 0-9 * # A-D")
    if not 0 < duration_ms <= MAX_DURATION_MS:
        raise DtmfInfoError(f"duration {duration_ms} ms out of range")
    return f"Signal={key}\r\nDuration={duration_ms}\r\n".encode("ascii")


def format_dtmf(digit: str) -> bytes:
    key = _key(digit) if len(digit) == 1 else None
    if key is None:
        raise DtmfInfoError(f"dtmf key {digit!r} is not one of 0-9 * # A-D")
    return key.encode("ascii")


def info_body(wcs_type: str, digit: str, duration_ms: int = 160) -> tuple[str, bytes]:
    """(Content-Type, body) of the INFO that sends ``digit`` for a WCS ``type``
    (``INFO`` -> dtmf-relay, ``INFO_RELAY`` -> application/dtmf)."""
    if wcs_type == INFO:
        return DTMF_RELAY, format_relay(digit, duration_ms)
    if wcs_type == INFO_RELAY:
        return DTMF, format_dtmf(digit)
    raise DtmfInfoError(f"type {wcs_type!r} is not sent by SIP INFO")
