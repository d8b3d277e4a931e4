"""SIP message model, parser and serializer (RFC 3261 §7, §20, §25).

Input is tolerant where the RFC asks for it (compact names, folding, lone LF, leading
CRLFs, case-insensitive names); output is canonical (full names, CRLF, Content-Length).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from wcs.sdp.sdes import mask_keys

from .errors import SipParseError
from .grammar import is_token, split_outside_quotes
from .uri import NameAddr
from .via import Via

__all__ = [
    "Headers",
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "canonical_name",
    "parse_message",
    "serialize",
]

COMPACT = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "u": "Allow-Events",
    "r": "Refer-To",
    "b": "Referred-By",
    "x": "Session-Expires",
    "a": "Accept-Contact",
    "j": "Reject-Contact",
    "d": "Request-Disposition",
    "y": "Identity",
    "n": "Identity-Info",
}

_KNOWN = [
    "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
    "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "In-Reply-To",
    "Max-Forwards", "MIME-Version", "Min-Expires", "Min-SE", "Organization", "P-Asserted-Identity",
    "Priority", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "Reason",
    "Record-Route", "Refer-To", "Referred-By", "Reply-To", "Require", "Retry-After", "Route",
    "RSeq", "RAck", "Server", "Session-Expires", "Subject", "Supported", "Timestamp", "To",
    "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate", "Accept-Contact",
    "Reject-Contact", "Request-Disposition", "Identity", "Identity-Info", "Path",
    "Service-Route", "Privacy",
]  # fmt: skip
_CANONICAL = {name.lower(): name for name in _KNOWN}

# Headers whose grammar is a comma-separated list (§7.3.1); auth headers are not.
MULTI_VALUED = frozenset(
    n.lower()
    for n in (
        "Via", "Route", "Record-Route", "Contact", "Allow", "Supported", "Require",
        "Proxy-Require", "Unsupported", "Accept", "Accept-Encoding", "Accept-Language",
        "Allow-Events", "Content-Encoding", "Content-Language", "In-Reply-To", "Alert-Info",
        "Call-Info", "Error-Info", "Warning", "Path", "Service-Route", "Reason",
        "P-Asserted-Identity",
    )
)  # fmt: skip


def canonical_name(name: str) -> str:
    name = name.strip()
    lower = name.lower()
    if lower in COMPACT:
        return COMPACT[lower]
    return _CANONICAL.get(lower, name)


class Headers:
    """Ordered, case-insensitive header list; names normalised to their full form."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        for name, value in items or []:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), value.strip()))

    def insert(self, name: str, value: str) -> None:
        """Add as the first header of that name (e.g. our Via on top)."""
        cname = canonical_name(name)
        lower = cname.lower()
        for i, (n, _) in enumerate(self._items):
            if n.lower() == lower:
                self._items.insert(i, (cname, value.strip()))
                return
        self._items.append((cname, value.strip()))

    def set(self, name: str, value: str) -> None:
        """Replace every header of that name by one, kept at the first one's position."""
        cname = canonical_name(name)
        lower = cname.lower()
        for i, (n, _) in enumerate(self._items):
            if n.lower() == lower:
                self._items[i] = (cname, value.strip())
                self._items[i + 1 :] = [it for it in self._items[i + 1 :] if it[0].lower() != lower]
                return
        self._items.append((cname, value.strip()))

    def set_all(self, name: str, values: list[str]) -> None:
        """Replace every header of that name by one line per value, at the first position."""
        cname = canonical_name(name)
        lower = cname.lower()
        at = next((i for i, (n, _) in enumerate(self._items) if n.lower() == lower), None)
        rest = [it for it in self._items if it[0].lower() != lower]
        new = [(cname, v.strip()) for v in values]
        if at is None:
            self._items = rest + new
        else:
            self._items = rest[:at] + new + rest[at:]

    def remove(self, name: str) -> None:
        lower = canonical_name(name).lower()
        self._items = [it for it in self._items if it[0].lower() != lower]

    def get(self, name: str) -> str | None:
        lower = canonical_name(name).lower()
        for n, v in self._items:
            if n.lower() == lower:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        lower = canonical_name(name).lower()
        values = [v for n, v in self._items if n.lower() == lower]
        if lower not in MULTI_VALUED:
            return values
        out: list[str] = []
        for v in values:
            try:
                parts = split_outside_quotes(v, ",")
            except SipParseError:
                parts = [v]  # unbalanced quote: the value's own parser reports it
            out.extend(p.strip() for p in parts if p.strip())
        return out

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def copy(self) -> Headers:
        h = Headers()
        h._items = list(self._items)
        return h


class _Common:
    headers: Headers

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        """(number, method); raises SipParseError when missing or bad."""
        return parse_cseq(self.headers.get("CSeq"))

    @property
    def vias(self) -> list[Via]:
        return [Via.parse(v) for v in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        values = self.headers.get_all("Via")
        if not values:
            raise SipParseError("no Via header")
        return Via.parse(values[0])

    def serialize(self) -> bytes:
        return serialize(self)  # type: ignore[arg-type]


@dataclass
class SipRequest(_Common):
    method: str
    uri: str
    headers: Headers = field(default_factory=lambda: Headers())
    body: bytes = b""
    version: str = "SIP/2.0"

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"


@dataclass
class SipResponse(_Common):
    status: int
    reason: str
    headers: Headers = field(default_factory=lambda: Headers())
    body: bytes = b""
    version: str = "SIP/2.0"

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"


SipMessage = SipRequest | SipResponse


def parse_cseq(value: str | None) -> tuple[int, str]:
    if value is None:
        raise SipParseError("no CSeq header")
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or not is_token(parts[1]):
        raise SipParseError(f"bad CSeq {value!r}")
    number = int(parts[0])
    if number >= 2**31:
        raise SipParseError(f"CSeq number too large in {value!r}")
    return number, parts[1]


_HEAD_END = re.compile(rb"\r?\n\r?\n")
_REQUEST_LINE = re.compile(r"^([!%*_+`'~.A-Za-z0-9-]+) (\S+) (SIP/\d+\.\d+)$")
_STATUS_LINE = re.compile(r"^(SIP/\d+\.\d+) (\d{3})(?: (.*))?$")
# Limits against resource exhaustion; real peers stay far below them.
MAX_HEADERS = 256
MAX_LINE = 16384
_VIA_START = re.compile(r"(?i)SIP\s*/\s*2\.0\s*/\s*[!-~]+\s+[^\s;,]")


def _via_line_ok(value: str) -> bool:
    """Every Via value on the line starts like one: a line may list several, comma separated,
    and each is echoed as its own Via in our responses."""
    if not _VIA_START.match(value):
        return False
    if "," not in value:
        return True
    try:
        parts = split_outside_quotes(value, ",")
    except SipParseError:
        return False
    return all(_VIA_START.match(p.strip()) for p in parts[1:])


_MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    """(head, rest) if the blank line ending the header block is in `data`."""
    m = _HEAD_END.search(data)
    if not m:
        return None
    return data[: m.start()], data[m.end() :]


def parse_message(data: bytes, *, stream: bool = False) -> SipMessage:
    """Parse one SIP message. `stream`: Content-Length is mandatory (TCP)."""
    data = data.lstrip(b"\r\n")  # §7.5: leading CRLFs are ignored
    if not data:
        raise SipParseError("empty message")
    parts = split_head(data)
    if parts is None:
        # a message without body may end right after the last header line
        head, rest = data.rstrip(b"\r\n"), b""
    else:
        head, rest = parts
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # SIP text is UTF-8 (§7.3); guessing another charset would echo mojibake
        raise SipParseError(f"header bytes are not UTF-8 (at offset {exc.start})") from None
    if "\x00" in text:
        raise SipParseError("NUL byte in the message head")
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].rstrip("\r")
    headers = _parse_header_lines(lines[1:])
    lengths = headers.get_all("Content-Length")
    if not lengths:
        if stream:
            raise SipParseError("missing Content-Length on a stream transport")
        body = rest
    else:
        length_text = lengths[0]
        if not length_text.isdigit():
            raise SipParseError(f"bad Content-Length {length_text!r}")
        length = int(length_text)
        if len(lengths) > 1 and any(not v.isdigit() or int(v) != length for v in lengths):
            raise SipParseError(f"conflicting Content-Length headers {lengths!r}")
        if length > len(rest):
            raise SipParseError(f"Content-Length {length} larger than the body ({len(rest)} bytes)")
        body = rest[:length]
    msg: SipMessage
    m = _STATUS_LINE.match(start)
    if m:
        if m.group(1) != "SIP/2.0":
            raise SipParseError(f"unsupported version {m.group(1)!r}")
        status = int(m.group(2))
        if not 100 <= status <= 699:
            raise SipParseError(f"bad status code {status}")
        msg = SipResponse(status, m.group(3) or "", headers, body, m.group(1))
    else:
        m = _REQUEST_LINE.match(start)
        if not m:
            raise SipParseError(f"bad start line {start[:80]!r}")
        msg = SipRequest(m.group(1), m.group(2), headers, body, m.group(3))
        if m.group(3) != "SIP/2.0":
            raise SipParseError(f"unsupported version {m.group(3)!r}", msg)
        if ":" not in m.group(2):
            raise SipParseError(f"bad Request-URI {m.group(2)!r}")
    _check_mandatory(msg)
    return msg


def _check_mandatory(msg: SipMessage) -> None:
    """§8.1.1: Via, From, To, Call-ID and CSeq must be present and readable."""
    present = {name for name, _ in msg.headers._items}
    missing = [n for n in _MANDATORY if n not in present]
    if missing:
        raise SipParseError(f"missing {', '.join(missing)}", msg)
    try:
        _number, method = msg.cseq
        if isinstance(msg, SipRequest) and method != msg.method:
            raise SipParseError(f"CSeq method {method} does not match {msg.method}")
        # hot path: a cheap structural check of every Via line; the full grammar stays
        # with .vias, which raises SipParseError too
        for name, value in msg.headers._items:
            if name == "Via" and not _via_line_ok(value):
                raise SipParseError(f"bad Via {value[:80]!r}")
            elif (name == "From" or name == "To") and '"' in value:
                NameAddr.parse(value)  # quoted display name: unbalanced quotes are refused
    except SipParseError as exc:
        raise SipParseError(str(exc), msg) from None


def _parse_header_lines(lines: list[str]) -> Headers:
    headers = Headers()
    current: list[str] | None = None
    pending: list[tuple[str, list[str]]] = []
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            continue
        if len(line) > MAX_LINE:
            raise SipParseError(f"header line longer than {MAX_LINE} characters")
        if line[0] in " \t":
            if current is None:
                raise SipParseError("continuation line before any header")
            current.append(line.strip())  # folding: LWS continuation joins with one space
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not is_token(name):
            raise SipParseError(f"bad header line {line[:80]!r}")
        current = [value.strip()]
        pending.append((name, current))
        if len(pending) > MAX_HEADERS:
            raise SipParseError(f"more than {MAX_HEADERS} headers")
    for name, chunks in pending:
        headers.add(name, " ".join(c for c in chunks if c))
    return headers


def serialize(msg: SipMessage) -> bytes:
    lines = [msg.start_line()]
    wrote_length = False
    for name, value in msg.headers:
        if name == "Content-Length":
            if wrote_length:
                continue
            value = str(len(msg.body))
            wrote_length = True
        lines.append(f"{name}: {value}")
    if not wrote_length:
        lines.append(f"Content-Length: {len(msg.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + msg.body


def masked(msg: SipMessage) -> str:
    """Text for debug logs with credentials and SDES keys hidden."""
    text = serialize(msg).decode("utf-8", "replace")
    return mask_keys(re.sub(r"(?im)^((?:Proxy-)?Authorization:).*$", r"\1 <hidden>", text))
