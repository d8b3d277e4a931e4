"""SDP (RFC 8866): a typed model with parse/serialize, H.264 fmtp rules and offer/answer.

Shared by the SIP side (offers to the callee, re-INVITE answers) and WebRTC (browser offers).
The model keeps every known attribute in a typed field and every other attribute, in order,
in ``attributes`` so ``parse(str(parse(x))) == parse(x)``. Any malformed input raises
:class:`SdpError` and nothing else (the SIP side turns it into 488).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Bandwidth",
    "Codec",
    "ConnectionData",
    "Crypto",
    "Extmap",
    "Fingerprint",
    "Group",
    "H264ProfileLevel",
    "MediaDescription",
    "NegotiatedMedia",
    "Origin",
    "RtcpAddress",
    "SdpError",
    "SessionDescription",
    "SsrcAttribute",
    "SsrcGroup",
    "Timing",
    "answer_direction",
    "answer_offer",
    "build_offer",
    "codecs_match",
    "default_audio_codecs",
    "default_video_codecs",
    "direction_of",
    "h264_packetization_mode",
    "h264_profile_level",
    "h264_profiles_compatible",
    "is_hold",
    "negotiate_answer",
    "parse_fmtp",
    "select_codecs",
]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
CRLF = "\r\n"


class SdpError(ValueError):
    """Malformed or unusable SDP (maps to SIP 488 Not Acceptable Here)."""


# --------------------------------------------------------------------------- small values


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
    key_params: str
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


def parse_fmtp(fmtp: str | None) -> dict[str, str]:
    """``"a=1;b=2"`` → ``{"a": "1", "b": "2"}``; value-less parts map to ``""``.

    Keys are lower-cased (RFC 6184 and most payload formats compare them case-insensitively).
    """
    params: dict[str, str] = {}
    if not fmtp:
        return params
    for part in fmtp.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        params[key.strip().lower()] = value.strip() if sep else ""
    return params


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


# --------------------------------------------------------------------------- media section


@dataclass(slots=True)
class MediaDescription:
    kind: str  # audio, video, application, ...
    port: int
    proto: str = "RTP/AVP"
    codecs: list[Codec] = field(default_factory=list)  # RTP media: m-line order
    formats: list[str] = field(default_factory=list)  # non-RTP media (e.g. webrtc-datachannel)
    port_count: int | None = None
    information: str | None = None
    connection: ConnectionData | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    key: str | None = None
    direction: str | None = None  # None: not written (defaults to session's, then sendrecv)
    mid: str | None = None
    msid: str | None = None
    rtcp: RtcpAddress | None = None
    rtcp_mux: bool = False
    rtcp_rsize: bool = False
    rtcp_fb_all: list[str] = field(default_factory=list)  # a=rtcp-fb:* ...
    ssrcs: list[SsrcAttribute] = field(default_factory=list)
    ssrc_groups: list[SsrcGroup] = field(default_factory=list)
    crypto: list[Crypto] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)  # value after "a=candidate:"
    end_of_candidates: bool = False
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    ice_options: str | None = None
    fingerprints: list[Fingerprint] = field(default_factory=list)
    setup: str | None = None
    extmaps: list[Extmap] = field(default_factory=list)
    ptime: int | None = None
    maxptime: int | None = None
    framerate: str | None = None  # verbatim ("15.00"); float(media.framerate) to use it
    attributes: list[tuple[str, str | None]] = field(default_factory=list)  # the rest, in order

    @property
    def is_rtp(self) -> bool:
        return "RTP/" in self.proto

    @property
    def rejected(self) -> bool:
        return self.port == 0

    def codec(self, payload_type: int) -> Codec | None:
        for c in self.codecs:
            if c.payload_type == payload_type:
                return c
        return None

    def feedback(self, codec: Codec) -> list[str]:
        """The codec's rtcp-fb values, including the ``*`` wildcard ones."""
        return [*codec.rtcp_fb, *(fb for fb in self.rtcp_fb_all if fb not in codec.rtcp_fb)]

    def ssrc_values(self) -> list[int]:
        seen: list[int] = []
        for s in self.ssrcs:
            if s.ssrc not in seen:
                seen.append(s.ssrc)
        return seen

    def cname(self) -> str | None:
        for s in self.ssrcs:
            if s.attribute == "cname":
                return s.value
        return None

    def get_attribute(self, name: str) -> str | None:
        for n, v in self.attributes:
            if n == name:
                return v if v is not None else ""
        return None

    def lines(self) -> list[str]:
        fmts = [str(c.payload_type) for c in self.codecs] if self.codecs else self.formats
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        out = [f"m={' '.join([self.kind, port, self.proto, *fmts])}"]
        if self.information is not None:
            out.append(f"i={self.information}")
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out.extend(f"b={b}" for b in self.bandwidths)
        if self.key is not None:
            out.append(f"k={self.key}")
        a = out.append
        if self.rtcp is not None:
            a(f"a=rtcp:{self.rtcp}")
        if self.ice_ufrag is not None:
            a(f"a=ice-ufrag:{self.ice_ufrag}")
        if self.ice_pwd is not None:
            a(f"a=ice-pwd:{self.ice_pwd}")
        if self.ice_options is not None:
            a(f"a=ice-options:{self.ice_options}")
        out.extend(f"a=candidate:{c}" for c in self.candidates)
        if self.end_of_candidates:
            a("a=end-of-candidates")
        out.extend(f"a=fingerprint:{f}" for f in self.fingerprints)
        if self.setup is not None:
            a(f"a=setup:{self.setup}")
        if self.mid is not None:
            a(f"a=mid:{self.mid}")
        out.extend(f"a=extmap:{e}" for e in self.extmaps)
        if self.direction is not None:
            a(f"a={self.direction}")
        if self.msid is not None:
            a(f"a=msid:{self.msid}")
        if self.rtcp_mux:
            a("a=rtcp-mux")
        if self.rtcp_rsize:
            a("a=rtcp-rsize")
        out.extend(f"a=crypto:{c}" for c in self.crypto)
        for c in self.codecs:
            if c.name:
                a(f"a=rtpmap:{c.rtpmap}")
            out.extend(f"a=rtcp-fb:{c.payload_type} {fb}" for fb in c.rtcp_fb)
            if c.fmtp is not None:
                a(f"a=fmtp:{c.payload_type} {c.fmtp}")
        out.extend(f"a=rtcp-fb:* {fb}" for fb in self.rtcp_fb_all)
        if self.ptime is not None:
            a(f"a=ptime:{self.ptime}")
        if self.maxptime is not None:
            a(f"a=maxptime:{self.maxptime}")
        if self.framerate is not None:
            a(f"a=framerate:{self.framerate}")
        out.extend(f"a=ssrc-group:{g}" for g in self.ssrc_groups)
        out.extend(f"a=ssrc:{s}" for s in self.ssrcs)
        out.extend(_attr_line(n, v) for n, v in self.attributes)
        return out


# --------------------------------------------------------------------------- session


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
        return _Parser().parse(text)

    def serialize(self) -> str:
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.name}"]
        if self.information is not None:
            out.append(f"i={self.information}")
        if self.uri is not None:
            out.append(f"u={self.uri}")
        out.extend(f"e={e}" for e in self.emails)
        out.extend(f"p={p}" for p in self.phones)
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out.extend(f"b={b}" for b in self.bandwidths)
        for t in self.timings:
            out.append(f"t={t.start} {t.stop}")
            out.extend(f"r={r}" for r in t.repeats)
        if self.zone is not None:
            out.append(f"z={self.zone}")
        if self.key is not None:
            out.append(f"k={self.key}")
        out.extend(f"a=group:{g}" for g in self.groups)
        if self.msid_semantic is not None:
            out.append(f"a=msid-semantic:{self.msid_semantic}")
        if self.ice_lite:
            out.append("a=ice-lite")
        if self.ice_ufrag is not None:
            out.append(f"a=ice-ufrag:{self.ice_ufrag}")
        if self.ice_pwd is not None:
            out.append(f"a=ice-pwd:{self.ice_pwd}")
        if self.ice_options is not None:
            out.append(f"a=ice-options:{self.ice_options}")
        out.extend(f"a=fingerprint:{f}" for f in self.fingerprints)
        if self.setup is not None:
            out.append(f"a=setup:{self.setup}")
        if self.direction is not None:
            out.append(f"a={self.direction}")
        out.extend(_attr_line(n, v) for n, v in self.attributes)
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


def _attr_line(name: str, value: str | None) -> str:
    return f"a={name}" if value is None else f"a={name}:{value}"


# --------------------------------------------------------------------------- parser

_TOKEN = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$")


def _int(text: str, what: str, lo: int = 0, hi: int = 2**63) -> int:
    if not text.isascii() or not text.isdigit():
        raise SdpError(f"{what}: not a number: {text!r}")
    value = int(text)
    if not lo <= value <= hi:
        raise SdpError(f"{what}: out of range: {value}")
    return value


def _connection(value: str) -> ConnectionData:
    parts = value.split()
    if len(parts) != 3:
        raise SdpError(f"bad connection data {value!r}")
    return ConnectionData(address=parts[2], addrtype=parts[1], nettype=parts[0])


def _bandwidth(value: str) -> Bandwidth:
    bwtype, sep, amount = value.partition(":")
    if not sep or not bwtype:
        raise SdpError(f"bad bandwidth {value!r}")
    return Bandwidth(bwtype.strip(), _int(amount.strip(), "bandwidth"))


def _split2(value: str, what: str) -> tuple[str, str]:
    head, sep, tail = value.partition(" ")
    if not sep or not head or not tail.strip():
        raise SdpError(f"bad a={what}:{value}")
    return head, tail.strip()


class _Parser:
    """One pass over the lines; session-level until the first m=, then per media section."""

    def parse(self, text: str | bytes) -> SessionDescription:
        if isinstance(text, bytes | bytearray):
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError as e:
                raise SdpError(f"SDP is not UTF-8: {e}") from None
        if not isinstance(text, str):
            raise SdpError("SDP must be text")
        lines = [ln.rstrip("\r") for ln in text.split("\n")]
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines:
            raise SdpError("empty SDP")
        sd = SessionDescription(timings=[])
        media: MediaDescription | None = None
        seen_origin = False
        for number, line in enumerate(lines, 1):
            if not line.strip() and number > 1:
                continue  # stray blank lines (seen in the wild) carry nothing
            if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
                raise SdpError(f"line {number}: not <type>=<value>: {line[:60]!r}")
            kind, value = line[0], line[2:]
            if number == 1:
                if kind != "v":
                    raise SdpError("SDP must start with v=")
                sd.version = _int(value.strip(), "v=", 0, 0)
                continue
            try:
                if media is None:
                    if kind == "m":
                        media = self._media_line(value)
                        sd.media.append(media)
                    else:
                        seen_origin |= kind == "o"
                        self._session_line(sd, kind, value)
                elif kind == "m":
                    self._finish(media)
                    media = self._media_line(value)
                    sd.media.append(media)
                else:
                    self._media_field(media, kind, value)
            except SdpError as e:
                raise SdpError(f"line {number}: {e}") from None
            except (ValueError, IndexError) as e:  # defensive: only SdpError leaves
                raise SdpError(f"line {number}: {e}") from None
        if media is not None:
            self._finish(media)
        if not seen_origin:
            raise SdpError("missing o= line")
        if not sd.timings:
            sd.timings.append(Timing())
        return sd

    # session level ----------------------------------------------------------------
    def _session_line(self, sd: SessionDescription, kind: str, value: str) -> None:
        if kind == "o":
            p = value.split()
            if len(p) != 6:
                raise SdpError(f"bad o= line {value!r}")
            sd.origin = Origin(p[0], p[1], _int(p[2], "o= version"), p[3], p[4], p[5])
        elif kind == "s":
            sd.name = value
        elif kind == "i":
            sd.information = value
        elif kind == "u":
            sd.uri = value
        elif kind == "e":
            sd.emails.append(value)
        elif kind == "p":
            sd.phones.append(value)
        elif kind == "c":
            sd.connection = _connection(value)
        elif kind == "b":
            sd.bandwidths.append(_bandwidth(value))
        elif kind == "t":
            p = value.split()
            if len(p) != 2:
                raise SdpError(f"bad t= line {value!r}")
            sd.timings.append(Timing(_int(p[0], "t= start"), _int(p[1], "t= stop")))
        elif kind == "r":
            if not sd.timings:
                raise SdpError("r= before t=")
            sd.timings[-1].repeats.append(value)
        elif kind == "z":
            sd.zone = value
        elif kind == "k":
            sd.key = value
        elif kind == "a":
            name, value_opt = _split_attr(value)
            self._session_attr(sd, name, value_opt)
        else:
            raise SdpError(f"unexpected {kind}= at session level")

    def _session_attr(self, sd: SessionDescription, name: str, value: str | None) -> None:
        if name in DIRECTIONS and value is None:
            sd.direction = name
        elif name == "group" and value is not None:
            p = value.split()
            if not p:
                raise SdpError("empty a=group")
            sd.groups.append(Group(p[0], p[1:]))
        elif name == "msid-semantic" and value is not None:
            sd.msid_semantic = value
        elif name == "ice-lite" and value is None:
            sd.ice_lite = True
        elif name == "ice-ufrag" and value is not None:
            sd.ice_ufrag = value
        elif name == "ice-pwd" and value is not None:
            sd.ice_pwd = value
        elif name == "ice-options" and value is not None:
            sd.ice_options = value
        elif name == "fingerprint" and value is not None:
            alg, fp = _split2(value, name)
            sd.fingerprints.append(Fingerprint(alg, fp))
        elif name == "setup" and value is not None:
            sd.setup = value
        else:
            sd.attributes.append((name, value))

    # media level ------------------------------------------------------------------
    def _media_line(self, value: str) -> MediaDescription:
        p = value.split()
        if len(p) < 3:
            raise SdpError(f"bad m= line {value!r}")
        port_text, _, count_text = p[1].partition("/")
        port = _int(port_text, "m= port", 0, 65535)
        count = _int(count_text, "m= port count", 1, 65535) if count_text else None
        m = MediaDescription(kind=p[0], port=port, proto=p[2], port_count=count)
        if m.is_rtp:
            for fmt in p[3:]:
                pt = _int(fmt, "m= payload type", 0, 127)
                if m.codec(pt) is not None:
                    raise SdpError(f"payload type {pt} listed twice")
                static = STATIC_PAYLOAD_TYPES.get(pt)
                if static is not None:
                    m.codecs.append(Codec(pt, static[0], static[1], static[2]))
                else:
                    m.codecs.append(Codec(pt, "", 0))  # named by its a=rtpmap
        else:
            m.formats = p[3:]
        return m

    def _media_field(self, m: MediaDescription, kind: str, value: str) -> None:
        if kind == "c":
            m.connection = _connection(value)
        elif kind == "b":
            m.bandwidths.append(_bandwidth(value))
        elif kind == "i":
            m.information = value
        elif kind == "k":
            m.key = value
        elif kind == "a":
            name, v = _split_attr(value)
            self._media_attr(m, name, v)
        else:
            raise SdpError(f"unexpected {kind}= in a media section")

    def _media_attr(self, m: MediaDescription, name: str, value: str | None) -> None:
        if value is None:
            if name in DIRECTIONS:
                m.direction = name
            elif name == "rtcp-mux":
                m.rtcp_mux = True
            elif name == "rtcp-rsize":
                m.rtcp_rsize = True
            elif name == "end-of-candidates":
                m.end_of_candidates = True
            else:
                m.attributes.append((name, None))
            return
        if name in ("rtpmap", "fmtp", "rtcp-fb") and m.is_rtp:
            if self._codec_attr(m, name, value):
                return
        elif name == "mid":
            m.mid = value
            return
        elif name == "msid":
            m.msid = value
            return
        elif name == "ssrc":
            ssrc_text, rest = _split2(value, name)
            attr, sep, attr_value = rest.partition(":")
            m.ssrcs.append(
                SsrcAttribute(
                    _int(ssrc_text, "ssrc", 0, 0xFFFFFFFF), attr, attr_value if sep else None
                )
            )
            return
        elif name == "ssrc-group":
            p = value.split()
            if not p:
                raise SdpError("empty a=ssrc-group")
            m.ssrc_groups.append(SsrcGroup(p[0], [_int(s, "ssrc", 0, 0xFFFFFFFF) for s in p[1:]]))
            return
        elif name == "crypto":
            p = value.split(None, 3)
            if len(p) < 3:
                raise SdpError(f"bad a=crypto:{value}")
            m.crypto.append(
                Crypto(_int(p[0], "crypto tag"), p[1], p[2], p[3] if len(p) > 3 else "")
            )
            return
        elif name == "candidate":
            m.candidates.append(value)
            return
        elif name == "ice-ufrag":
            m.ice_ufrag = value
            return
        elif name == "ice-pwd":
            m.ice_pwd = value
            return
        elif name == "ice-options":
            m.ice_options = value
            return
        elif name == "fingerprint":
            alg, fp = _split2(value, name)
            m.fingerprints.append(Fingerprint(alg, fp))
            return
        elif name == "setup":
            m.setup = value
            return
        elif name == "rtcp":
            port_text, _, rest = value.strip().partition(" ")
            conn = _connection(rest) if rest.strip() else None
            m.rtcp = RtcpAddress(_int(port_text, "rtcp port", 0, 65535), conn)
            return
        elif name == "extmap":
            head, tail = _split2(value, name)
            id_text, _, ext_dir = head.partition("/")
            uri, _, ext_attrs = tail.partition(" ")
            m.extmaps.append(
                Extmap(_int(id_text, "extmap id", 1, 255), uri, ext_dir or None, ext_attrs or None)
            )
            return
        elif name in ("ptime", "maxptime") and value.strip().isascii() and value.strip().isdigit():
            setattr(m, name, int(value.strip()))
            return
        elif name == "framerate":
            m.framerate = value
            return
        m.attributes.append((name, value))

    def _codec_attr(self, m: MediaDescription, name: str, value: str) -> bool:
        """rtpmap/fmtp/rtcp-fb for a listed payload type; False keeps it as unknown."""
        target, sep, rest = value.partition(" ")
        if name == "rtcp-fb" and target == "*":
            if not rest.strip():
                raise SdpError("empty a=rtcp-fb:*")
            m.rtcp_fb_all.append(rest.strip())
            return True
        pt = _int(target, f"{name} payload type", 0, 127)
        codec = m.codec(pt)
        if codec is None:
            return False  # not offered on the m-line: keep verbatim, use nowhere
        if name == "rtpmap":
            enc = rest.strip().split("/")
            if not sep or len(enc) < 2 or len(enc) > 3 or not enc[0]:
                raise SdpError(f"bad a=rtpmap:{value}")
            codec.name = enc[0]
            codec.clock_rate = _int(enc[1], "clock rate", 1)
            codec.channels = _int(enc[2], "channels", 1, 255) if len(enc) == 3 else None
        elif name == "fmtp":
            codec.fmtp = rest if sep else ""
        else:
            if not rest.strip():
                raise SdpError(f"empty a=rtcp-fb:{value}")
            codec.rtcp_fb.append(rest.strip())
        return True

    def _finish(self, m: MediaDescription) -> None:
        # A dynamic payload type without a=rtpmap stays nameless: listed, never matched.
        # Its a=rtcp-fb / a=fmtp lines still attach to it so nothing is lost.
        return None


def _split_attr(value: str) -> tuple[str, str | None]:
    name, sep, rest = value.partition(":")
    if not name or not _TOKEN.match(name):
        raise SdpError(f"bad attribute name {name[:40]!r}")
    return name, rest if sep else None


# --------------------------------------------------------------------------- H.264 (RFC 6184)


@dataclass(frozen=True, slots=True)
class H264ProfileLevel:
    """``profile-level-id``: profile_idc, profile-iop (constraint flags), level_idc.

    ``level`` is level_idc, except level 1b which is 9 (as the High profiles code it).
    """

    profile_idc: int
    profile_iop: int
    level: int

    @property
    def profile(self) -> str:
        """The named profile, folding the constraint flags in the way RFC 6184 §8.1 does."""
        idc, iop = self.profile_idc, self.profile_iop
        set0, set1, set3 = iop & 0x80, iop & 0x40, iop & 0x10
        if idc == 0x42:
            return "constrained-baseline" if set1 else "baseline"
        if idc == 0x4D:
            return "constrained-baseline" if set0 else "main"
        if idc == 0x58:
            if set0 and set1:
                return "constrained-baseline"
            return "baseline" if set0 else "extended"
        if idc == 0x64:
            # constraint_set4/5 (0x08, 0x04) together mark Constrained High.
            return "constrained-high" if iop & 0x0C == 0x0C else "high"
        if idc == 0xF4 and set3:
            return "high-4:4:4-intra"
        return {0x6E: "high-10", 0x7A: "high-4:2:2", 0xF4: "high-4:4:4"}.get(idc, f"idc-{idc}")

    @property
    def level_rank(self) -> float:
        """Orders levels: 1 < 1b < 1.1 < ... (1b sits between level_idc 10 and 11)."""
        return 10.5 if self.level == 9 else float(self.level)

    def __str__(self) -> str:
        level_idc, iop = self.level, self.profile_iop
        if level_idc == 9 and self.profile_idc in (0x42, 0x4D, 0x58):
            level_idc, iop = 11, iop | 0x10  # level 1b in the Baseline family: 11 + set3
        return f"{self.profile_idc:02x}{iop:02x}{level_idc:02x}"


# RFC 6184 §8.1: absent profile-level-id means Baseline, level 1.
_DEFAULT_PLID = "42000a"


def h264_profile_level(params: dict[str, str] | str | None) -> H264ProfileLevel:
    """Parse ``profile-level-id`` from fmtp params (dict or string); SdpError if malformed."""
    if not isinstance(params, dict):
        params = parse_fmtp(params)
    text = params.get("profile-level-id", _DEFAULT_PLID)
    if len(text) != 6 or not re.fullmatch(r"[0-9A-Fa-f]{6}", text):
        raise SdpError(f"bad H.264 profile-level-id {text!r}")
    raw = bytes.fromhex(text)
    idc, iop, level = raw[0], raw[1], raw[2]
    if level == 11 and iop & 0x10 and idc in (0x42, 0x4D, 0x58):
        level = 9  # level 1b
    return H264ProfileLevel(idc, iop, level)


def h264_packetization_mode(params: dict[str, str] | str | None) -> int:
    """packetization-mode (absent means 0, RFC 6184 §8.1)."""
    if not isinstance(params, dict):
        params = parse_fmtp(params)
    text = params.get("packetization-mode", "0")
    if text not in ("0", "1", "2"):
        raise SdpError(f"bad H.264 packetization-mode {text!r}")
    return int(text)


def h264_profiles_compatible(
    a: dict[str, str] | str | None, b: dict[str, str] | str | None
) -> bool:
    """Same profile (after folding constraint flags); levels may differ (RFC 6184 §8.2.2)."""
    try:
        return h264_profile_level(a).profile == h264_profile_level(b).profile
    except SdpError:
        return False


def h264_answer_level(
    offer: dict[str, str] | str | None, local: dict[str, str] | str | None
) -> int:
    """Level to put in an answer: without level-asymmetry-allowed on both sides, the lower one."""
    po = parse_fmtp(offer) if not isinstance(offer, dict) else offer
    pl = parse_fmtp(local) if not isinstance(local, dict) else local
    lo, ll = h264_profile_level(po), h264_profile_level(pl)
    if po.get("level-asymmetry-allowed") == "1" and pl.get("level-asymmetry-allowed") == "1":
        return ll.level
    return lo.level if lo.level_rank <= ll.level_rank else ll.level


# --------------------------------------------------------------------------- offer/answer

_NO_MAIN_CODEC = ("telephone-event", "cn", "red", "ulpfec", "flexfec-03", "rtx")


def codecs_match(a: Codec, b: Codec) -> bool:
    """Same payload format: name, clock, channels (absent = 1 for audio), format rules."""
    if not a.name or a.name.lower() != b.name.lower() or a.clock_rate != b.clock_rate:
        return False
    if (a.channels or 1) != (b.channels or 1):
        return False
    name = a.name.lower()
    if name == "h264":
        try:
            if h264_packetization_mode(a.fmtp) != h264_packetization_mode(b.fmtp):
                return False
        except SdpError:
            return False
        return h264_profiles_compatible(a.fmtp, b.fmtp)
    if name == "rtx":
        return a.parameters.get("apt") == b.parameters.get("apt")
    return True


def select_codecs(preferred: Sequence[Codec], other: Sequence[Codec]) -> list[tuple[Codec, Codec]]:
    """Pairs (p, o) of matching codecs in the order of ``preferred``, each used once."""
    pairs: list[tuple[Codec, Codec]] = []
    used: set[int] = set()
    for p in preferred:
        for o in other:
            if o.payload_type not in used and codecs_match(p, o):
                pairs.append((p, o))
                used.add(o.payload_type)
                break
    return pairs


def direction_of(media: MediaDescription, session: SessionDescription | None = None) -> str:
    """Effective direction: the media's, else the session's, else sendrecv (RFC 3264 §5.1)."""
    if media.direction is not None:
        return media.direction
    if session is not None and session.direction is not None:
        return session.direction
    return "sendrecv"


def is_hold(media: MediaDescription, session: SessionDescription | None = None) -> bool:
    """The sender of this SDP stops receiving: sendonly/inactive, or c=0.0.0.0 (RFC 2543)."""
    if direction_of(media, session) in ("sendonly", "inactive"):
        return True
    conn = media.connection or (session.connection if session is not None else None)
    return conn is not None and conn.host in ("0.0.0.0", "::")


def answer_direction(offered: str, local: str = "sendrecv") -> str:
    """RFC 3264 §6.1: we send only if the offerer receives, and receive only if it sends."""
    can_send = offered in ("sendrecv", "recvonly") and local in ("sendrecv", "sendonly")
    can_recv = offered in ("sendrecv", "sendonly") and local in ("sendrecv", "recvonly")
    if can_send and can_recv:
        return "sendrecv"
    if can_send:
        return "sendonly"
    return "recvonly" if can_recv else "inactive"


def default_audio_codecs() -> list[Codec]:
    """Our offer's audio, in preference order (baresip sends with the first one it shares)."""
    return [
        Codec(8, "PCMA", 8000),
        Codec(0, "PCMU", 8000),
        Codec(96, "opus", 48000, 2, "minptime=10;useinbandfec=1"),
        Codec(101, "telephone-event", 8000, None, "0-15"),
    ]


def default_video_codecs() -> list[Codec]:
    fb = ["nack", "nack pli", "ccm fir"]
    return [
        Codec(97, "H264", 90000, None, "packetization-mode=1;profile-level-id=42e01f", list(fb)),
        Codec(98, "H264", 90000, None, "packetization-mode=0;profile-level-id=42e01f", list(fb)),
    ]


def build_offer(
    local_ip: str,
    audio_port: int | None,
    video_port: int | None = None,
    *,
    has_video: bool | None = None,
    direction: str = "sendrecv",
    session_id: int | str = 0,
    session_version: int = 0,
    audio_codecs: Sequence[Codec] | None = None,
    video_codecs: Sequence[Codec] | None = None,
    rtcp_mux: bool = False,
    ptime: int | None = 20,
    cname: str | None = None,
    audio_ssrc: int | None = None,
    video_ssrc: int | None = None,
    session_name: str = "-",
) -> SessionDescription:
    """The SDP offer of our SIP INVITE: plain RTP/AVP, audio and (optionally) video."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}")
    addrtype = "IP6" if ":" in local_ip else "IP4"
    sd = SessionDescription(
        origin=Origin("-", str(session_id), session_version, "IN", addrtype, local_ip),
        name=session_name,
        connection=ConnectionData(local_ip, addrtype),
    )
    if audio_port is not None:
        audio = MediaDescription("audio", audio_port, "RTP/AVP", direction=direction)
        audio.codecs = [c.copy() for c in (audio_codecs or default_audio_codecs())]
        audio.ptime = ptime
        audio.rtcp_mux = rtcp_mux
        if cname and audio_ssrc is not None:
            audio.ssrcs.append(SsrcAttribute(audio_ssrc, "cname", cname))
        sd.media.append(audio)
    want_video = video_port is not None if has_video is None else has_video
    if want_video:
        if video_port is None:
            raise ValueError("has_video needs a video_port")
        video = MediaDescription("video", video_port, "RTP/AVP", direction=direction)
        video.codecs = [c.copy() for c in (video_codecs or default_video_codecs())]
        video.rtcp_mux = rtcp_mux
        if cname and video_ssrc is not None:
            video.ssrcs.append(SsrcAttribute(video_ssrc, "cname", cname))
        sd.media.append(video)
    return sd


@dataclass(slots=True)
class NegotiatedMedia:
    """One m-line after offer/answer, from our side.

    ``receive_codec`` is the codec the peer will send us: the first codec of the answer that
    we offered (baresip sends with the first common codec), with *our* payload type, which is
    what arrives on the wire; ``send_codec`` is the same format with the answer's payload type.
    """

    index: int
    kind: str
    rejected: bool
    direction: str  # ours, after negotiation: what *we* do
    remote_address: tuple[str, int] | None = None  # RTP goes there
    remote_rtcp_address: tuple[str, int] | None = None
    rtcp_mux: bool = False
    receive_codec: Codec | None = None
    send_codec: Codec | None = None
    codecs: list[tuple[Codec, Codec]] = field(default_factory=list)  # (ours, theirs), their order
    telephone_event: Codec | None = None  # ours (receive side)
    remote_ssrcs: list[int] = field(default_factory=list)
    remote_cname: str | None = None
    hold: bool = False

    @property
    def receive_payload_types(self) -> dict[int, Codec]:
        """Every payload type we may receive for this m-line, mapped to our codec."""
        table: dict[int, Codec] = {}
        for ours, theirs in self.codecs:
            table.setdefault(ours.payload_type, ours)
            table.setdefault(theirs.payload_type, ours)
        return table


_REVERSE = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly"}


def negotiate_answer(
    offer: SessionDescription, answer: SessionDescription
) -> list[NegotiatedMedia]:
    """Match a remote answer against our offer, m-line by m-line (RFC 3264 §6/§7)."""
    if len(answer.media) != len(offer.media):
        raise SdpError(f"answer has {len(answer.media)} m-lines, offer had {len(offer.media)}")
    result: list[NegotiatedMedia] = []
    for i, (ours, theirs) in enumerate(zip(offer.media, answer.media, strict=True)):
        if ours.kind != theirs.kind:
            raise SdpError(f"m-line {i}: answer has {theirs.kind}, offer had {ours.kind}")
        if ours.rejected or theirs.rejected:
            result.append(NegotiatedMedia(i, ours.kind, True, "inactive"))
            continue
        their_dir = direction_of(theirs, answer)
        conn = answer.connection_for(theirs)
        if conn is None:
            raise SdpError(f"m-line {i}: no c= line in the answer")
        host = conn.host
        if host in ("0.0.0.0", "::"):  # RFC 2543 hold: they receive nothing
            their_dir = {"sendrecv": "sendonly", "recvonly": "inactive"}.get(their_dir, their_dir)
        our_dir = _REVERSE.get(their_dir, "inactive")
        nm = NegotiatedMedia(
            i,
            ours.kind,
            False,
            our_dir,
            (host, theirs.port),
            rtcp_mux=ours.rtcp_mux and theirs.rtcp_mux,
            hold=is_hold(theirs, answer),
        )
        nm.remote_rtcp_address = _rtcp_address(theirs, host, nm.rtcp_mux)
        pairs = [(o, t) for t, o in select_codecs(theirs.codecs, ours.codecs)]
        nm.codecs = pairs
        for o, t in pairs:
            if o.name.lower() == "telephone-event":
                nm.telephone_event = nm.telephone_event or o
            elif nm.receive_codec is None and o.name.lower() not in _NO_MAIN_CODEC:
                nm.receive_codec, nm.send_codec = o, t
        if nm.receive_codec is None and ours.is_rtp:
            raise SdpError(f"m-line {i} ({ours.kind}): no codec in common with the offer")
        nm.remote_ssrcs = theirs.ssrc_values()
        nm.remote_cname = theirs.cname()
        result.append(nm)
    return result


def _rtcp_address(m: MediaDescription, host: str, mux: bool) -> tuple[str, int]:
    if mux:
        return (host, m.port)
    if m.rtcp is not None:
        return (m.rtcp.connection.host if m.rtcp.connection else host, m.rtcp.port)
    return (host, m.port + 1)


def answer_offer(
    remote_offer: SessionDescription,
    local_capabilities: Mapping[str, Sequence[Codec]],
    local_ip: str,
    ports: Mapping[str, int] | Sequence[int],
    *,
    direction: str = "sendrecv",
    session_id: int | str = 0,
    session_version: int = 0,
    rtcp_mux: bool | None = None,
    previous: SessionDescription | None = None,
) -> SessionDescription:
    """Answer a remote offer (re-INVITE, or an INVITE we receive), RFC 3264 §6.

    ``local_capabilities`` maps media kind → codecs we accept; ``ports`` maps kind (or m-line
    index) → our port. The answer keeps the offerer's codec order and payload types. A remote
    hold (sendonly, inactive, or c=0.0.0.0) is answered recvonly / inactive. ``previous``
    (our earlier answer or offer in this dialog) keeps the o= line and bumps its version.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}")
    addrtype = "IP6" if ":" in local_ip else "IP4"
    if previous is not None:
        origin = Origin(
            previous.origin.username,
            previous.origin.session_id,
            previous.origin.session_version + 1,
            "IN",
            addrtype,
            local_ip,
        )
    else:
        origin = Origin("-", str(session_id), session_version, "IN", addrtype, local_ip)
    sd = SessionDescription(origin=origin, name="-", connection=ConnectionData(local_ip, addrtype))
    for i, offered in enumerate(remote_offer.media):
        if isinstance(ports, Mapping):
            port = ports.get(offered.kind)
        else:
            port = ports[i] if i < len(ports) else None
        caps = local_capabilities.get(offered.kind)
        pairs = select_codecs(offered.codecs, caps) if caps and offered.is_rtp else []
        usable = [p for p in pairs if p[0].name.lower() not in ("telephone-event",)]
        m = MediaDescription(offered.kind, 0, offered.proto)
        if offered.rejected or port is None or not usable:
            # Rejected: port 0, and one format from the offer so the m-line stays valid.
            m.codecs = [offered.codecs[0].copy()] if offered.codecs else []
            m.formats = list(offered.formats[:1])
            sd.media.append(m)
            continue
        m.port = port
        for theirs, mine in pairs:
            c = theirs.copy()
            c.rtcp_fb = [fb for fb in mine.rtcp_fb if fb in offered.feedback(theirs)]
            if c.name.lower() == "h264" and mine.fmtp is not None:
                c.fmtp = _h264_answer_fmtp(theirs, mine)
            m.codecs.append(c)
        offered_dir = direction_of(offered, remote_offer)
        conn = remote_offer.connection_for(offered)
        if offered_dir == "sendrecv" and conn is not None and conn.host in ("0.0.0.0", "::"):
            offered_dir = "sendonly"  # RFC 2543 hold: the offerer will not receive
        m.direction = answer_direction(offered_dir, direction)
        m.ptime = offered.ptime if offered.kind == "audio" else None
        want_mux = offered.rtcp_mux if rtcp_mux is None else rtcp_mux and offered.rtcp_mux
        m.rtcp_mux = want_mux
        m.rtcp_fb_all = [
            fb for fb in offered.rtcp_fb_all if any(fb in c.rtcp_fb for c in caps or [])
        ]
        m.mid = offered.mid
        sd.media.append(m)
    return sd


def _h264_answer_fmtp(theirs: Codec, mine: Codec) -> str:
    """Offer's parameters with our level where lower (RFC 6184 §8.2.2)."""
    params = theirs.parameters
    plid = h264_profile_level(params)
    level = h264_answer_level(params, mine.fmtp)
    params["profile-level-id"] = str(H264ProfileLevel(plid.profile_idc, plid.profile_iop, level))
    params.setdefault("packetization-mode", str(h264_packetization_mode(theirs.fmtp)))
    return ";".join(f"{k}={v}" if v else k for k, v in params.items())
