"""Checks on what arrives before it is routed: the received/rport stamp on the top Via,
the validity of a parsed request, and 400/505 for a message that does not parse."""

from __future__ import annotations

import logging

from wcs.observability.metrics import REGISTRY

from .auth import AuthError, check_credentials
from .endpoint import token
from .errors import SipParseError
from .grammar import is_token
from .message import Headers, SipRequest, SipResponse, parse_cseq
from .transaction import Dest
from .uri import NameAddr, SipUri
from .via import Via

log = logging.getLogger(__name__)

# Every malformed message is counted here and logged at DEBUG only: anyone who can reach
# the SIP port could otherwise fill the log.
MALFORMED = REGISTRY.counter(
    "wcs_sip_malformed_messages_total", "SIP messages that did not parse (answered 400 or dropped)"
)


def stamp_via(via: Via, addr: tuple[str, int]) -> None:
    """§18.2.1 + RFC 3581 §4: record where the request really came from."""
    via.stamp_received(addr)


def validate(req: SipRequest) -> str | None:
    """What makes a parsed request unusable (answered 400), or None."""
    try:
        _check_request_uri(req.uri)
        NameAddr.parse(req.headers.get("From") or "")
        NameAddr.parse(req.headers.get("To") or "")
        _number, method = req.cseq
        for name in ("Authorization", "Proxy-Authorization"):
            for value in req.headers.get_all(name):
                check_credentials(value)
    except (SipParseError, AuthError) as exc:
        return str(exc)
    if not req.call_id:
        return "missing Call-ID"
    if method != req.method:
        return f"CSeq method {method} does not match {req.method}"
    return None


def _check_request_uri(uri: str) -> None:
    """A sip:/sips: Request-URI must parse (Kamailio answers 400 otherwise); other
    schemes (tel:, urn:) only need one."""
    scheme, colon, rest = uri.partition(":")
    if scheme.lower() in ("sip", "sips"):
        SipUri.parse(uri)
    elif not colon or not rest or not is_token(scheme):
        raise SipParseError(f"bad Request-URI {uri!r}")


def malformed_answer(
    data: bytes, addr: tuple[str, int], transport: str, error: str, server: str
) -> tuple[bytes, Dest] | None:
    """400 (or 505) when the essentials can still be read (§21.4.1), else None: drop."""
    log.debug("malformed SIP message from %s: %s", addr, error)
    MALFORMED.inc()
    text = data.decode("utf-8", "replace").replace("\r\n", "\n").lstrip("\n")
    lines = text.split("\n\n", 1)[0].split("\n")
    first = lines[0].split(" ")
    if len(first) != 3 or not first[2].startswith("SIP/") or first[0] in ("ACK", "SIP/2.0"):
        return None
    if not is_token(first[0]):
        return None  # not even a request line: nothing to answer
    # §8.2.6.1 / §21.5.20: another SIP version is answered 505, everything else 400
    status = 505 if first[2] != "SIP/2.0" else 400
    wanted = {
        "via": "Via",
        "v": "Via",
        "from": "From",
        "f": "From",
        "to": "To",
        "t": "To",
        "call-id": "Call-ID",
        "i": "Call-ID",
        "cseq": "CSeq",
    }
    found: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        key = wanted.get(name.strip().lower())
        if colon and key and key not in found:
            found[key] = value.strip()
    if len(found) < 5 or not found["Call-ID"]:
        return None  # §8.2.6: without the identifiers no useful answer can be built
    if any(_unprintable(found[k]) for k in ("Via", "Call-ID", "CSeq")):
        return None  # echoing NULs or undecodable bytes would make our answer malformed too
    try:
        via = Via.parse(found["Via"].split(",")[0])
    except SipParseError:
        return None
    from_, to = _readable_address(found["From"]), _readable_address(found["To"])
    if from_ is None or to is None:
        return None
    try:
        parse_cseq(found["CSeq"])
        cseq = found["CSeq"]
    except SipParseError:
        cseq = f"0 {first[0]}"  # the request's own CSeq is unreadable: still a valid answer
    h = Headers()
    stamp_via(via, addr)
    h.add("Via", str(via))
    h.add("From", from_)
    h.add("To", to if "tag=" in to else f"{to};tag={token()}")  # §8.2.6.2
    h.add("Call-ID", found["Call-ID"])
    h.add("CSeq", cseq)
    h.add("Server", server)
    if status == 505:
        reason = "Version Not Supported"
    else:
        reason = ("Bad Request - " + error.replace("\r", " ").replace("\n", " "))[:120]
    resp = SipResponse(status, reason, h)
    host, port = via.response_address()
    return resp.serialize(), (host, port, transport)


def _readable_address(value: str) -> str | None:
    """The From/To value to echo in a 400: as is, or without a broken display name."""
    for candidate in (value, value[value.find("<") :] if "<" in value else ""):
        if _unprintable(candidate):
            continue
        try:
            NameAddr.parse(candidate)
            return candidate
        except SipParseError:
            continue
    return None


def _unprintable(value: str) -> bool:
    return "\x00" in value or "\ufffd" in value
