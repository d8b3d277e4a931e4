"""A whole SDP document: session-level fields and the media sections, with parse/serialize.

The model keeps every known attribute in a typed field and every other attribute, in order,
in ``attributes`` so ``parse(str(parse(x))) == parse(x)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import parser
from .media import MediaDescription
from .model import (
    Bandwidth,
    ConnectionData,
    Fingerprint,
    Group,
    Origin,
    Timing,
    attr_line,
    field_lines,
)

CRLF = "\r\n"

# The session-level lines in RFC 8866 order: (prefix, field), see model.field_lines.
_LINES = (
    ("i=", "information"),
    ("u=", "uri"),
    ("e=", "emails"),
    ("p=", "phones"),
    ("c=", "connection"),
    ("b=", "bandwidths"),
)  # then t= and r=
_TAIL_LINES = (
    ("z=", "zone"),
    ("k=", "key"),
    ("a=group:", "groups"),
    ("a=msid-semantic:", "msid_semantic"),
    ("a=ice-lite", "ice_lite"),
    ("a=ice-ufrag:", "ice_ufrag"),
    ("a=ice-pwd:", "ice_pwd"),
    ("a=ice-options:", "ice_options"),
    ("a=fingerprint:", "fingerprints"),
    ("a=setup:", "setup"),
    ("a=", "direction"),
)


@dataclass(slots=True)
class SessionDescription:
    origin: Origin = field(default_factory=Origin)
    name: str = "-"
    version: int = 0
    information: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: ConnectionData | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=lambda: [Timing()])
    zone: str | None = None
    key: str | None = None
    groups: list[Group] = field(default_factory=list)
    msid_semantic: str | None = None  # verbatim value (" WMS" from Chrome, "WMS *" elsewhere)
    ice_lite: bool = False
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    ice_options: str | None = None
    fingerprints: list[Fingerprint] = field(default_factory=list)
    setup: str | None = None
    direction: str | None = None
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | bytes) -> SessionDescription:
        """SDP text (or UTF-8 bytes) to the model; anything malformed raises SdpError only."""
        return parser.parse(text, cls)

    def serialize(self) -> str:
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.name}"]
        out += field_lines(self, _LINES)
        for t in self.timings:
            out.append(f"t={t.start} {t.stop}")
            out.extend(f"r={r}" for r in t.repeats)
        out += field_lines(self, _TAIL_LINES)
        out.extend(attr_line(n, v) for n, v in self.attributes)
        for m in self.media:
            out.extend(m.lines())
        return CRLF.join(out) + CRLF

    def __str__(self) -> str:
        return self.serialize()

    def get_attribute(self, name: str) -> str | None:
        for n, v in self.attributes:
            if n == name:
                return v if v is not None else ""
        return None

    def connection_for(self, media: MediaDescription) -> ConnectionData | None:
        return media.connection or self.connection

    def bundle_mids(self) -> list[str]:
        for g in self.groups:
            if g.semantics == "BUNDLE":
                return list(g.mids)
        return []
