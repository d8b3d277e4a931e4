"""The leaf SDP values (RFC 8866): o=, c=, b=, t=, the typed attributes, and payload formats.

Plain dataclasses whose ``str()`` is their SDP text; :mod:`.media` and :mod:`.session` build
on them and :mod:`.parser` fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .fmtp import parse_fmtp

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


def attr_line(name: str, value: str | None) -> str:
    """An ``a=`` line as written: ``a=name`` for a flag, ``a=name:value`` otherwise."""
    return f"a={name}" if value is None else f"a={name}:{value}"


def field_lines(obj: object, table: tuple[tuple[str, str], ...]) -> list[str]:
    """The lines of ``obj``'s fields, in table order: (prefix, field name) is skipped when the
    field is None or False, is ``prefix`` alone when True, one line per item of a list."""
    out: list[str] = []
    for prefix, name in table:
        value = getattr(obj, name)
        if value is None or value is False:
            continue
        if value is True:
            out.append(prefix)
        elif isinstance(value, list):
            out.extend(f"{prefix}{v}" for v in value)
        else:
            out.append(f"{prefix}{value}")
    return out


@dataclass(slots=True)
class Origin:
    username: str = "-"
    session_id: str = "0"  # kept as text: huge or zero-padded ids must round-trip
    session_version: int = 0
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "127.0.0.1"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(slots=True)
class ConnectionData:
    address: str  # may carry "/ttl[/count]" for multicast, kept verbatim
    addrtype: str = "IP4"
    nettype: str = "IN"

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"

    @property
    def host(self) -> str:
        return self.address.split("/", 1)[0]


@dataclass(slots=True)
class Bandwidth:
    type: str  # AS, CT, TIAS, RR, RS, ...
    value: int

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


@dataclass(slots=True)
class Timing:
    start: int = 0
    stop: int = 0
    repeats: list[str] = field(default_factory=list)  # r= lines, verbatim


@dataclass(slots=True)
class Group:
    semantics: str  # BUNDLE, LS, ...
    mids: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join([self.semantics, *self.mids])


@dataclass(slots=True)
class Fingerprint:
    algorithm: str  # "sha-256"
    value: str  # "AB:CD:..."

    def __str__(self) -> str:
        return f"{self.algorithm} {self.value}"


@dataclass(slots=True)
class Crypto:
    """RFC 4568 SDES: ``a=crypto:<tag> <suite> <key-params> [<session-params>]``."""

    tag: int
    suite: str
    key_params: str = field(repr=False)  # holds the key: never in a repr
    session_params: str = ""

    def __str__(self) -> str:
        base = f"{self.tag} {self.suite} {self.key_params}"
        return f"{base} {self.session_params}" if self.session_params else base


@dataclass(slots=True)
class SsrcAttribute:
    ssrc: int
    attribute: str  # cname, msid, label, ...
    value: str | None = None

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.ssrc} {self.attribute}"
        return f"{self.ssrc} {self.attribute}:{self.value}"


@dataclass(slots=True)
class SsrcGroup:
    semantics: str  # FID, SIM, FEC-FR
    ssrcs: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join([self.semantics, *map(str, self.ssrcs)])


@dataclass(slots=True)
class RtcpAddress:
    """RFC 3605 ``a=rtcp:<port> [IN IP4 <addr>]``."""

    port: int
    connection: ConnectionData | None = None

    def __str__(self) -> str:
        return f"{self.port} {self.connection}" if self.connection else str(self.port)


@dataclass(slots=True)
class Extmap:
    id: int
    uri: str
    direction: str | None = None
    attributes: str | None = None

    def __str__(self) -> str:
        head = f"{self.id}/{self.direction}" if self.direction else str(self.id)
        tail = f" {self.attributes}" if self.attributes else ""
        return f"{head} {self.uri}{tail}"


# --------------------------------------------------------------------------- codecs

# RFC 3551 static payload types that appear in practice (name, clock rate, channels).
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int, int | None]] = {
    0: ("PCMU", 8000, None),
    3: ("GSM", 8000, None),
    4: ("G723", 8000, None),
    8: ("PCMA", 8000, None),
    9: ("G722", 8000, None),
    13: ("CN", 8000, None),
    18: ("G729", 8000, None),
    26: ("JPEG", 90000, None),
    31: ("H261", 90000, None),
    34: ("H263", 90000, None),
}


@dataclass(slots=True)
class Codec:
    payload_type: int
    name: str  # as written ("opus", "H264"); compare with .name.lower()
    clock_rate: int
    channels: int | None = None
    fmtp: str | None = None  # verbatim parameter string; see .parameters
    rtcp_fb: list[str] = field(default_factory=list)  # "nack", "nack pli", "ccm fir", ...

    @property
    def parameters(self) -> dict[str, str]:
        return parse_fmtp(self.fmtp)

    @property
    def rtpmap(self) -> str:
        base = f"{self.payload_type} {self.name}/{self.clock_rate}"
        return f"{base}/{self.channels}" if self.channels is not None else base

    def copy(self, payload_type: int | None = None) -> Codec:
        return Codec(
            self.payload_type if payload_type is None else payload_type,
            self.name,
            self.clock_rate,
            self.channels,
            self.fmtp,
            list(self.rtcp_fb),
        )
