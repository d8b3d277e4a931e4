"""SDP text → model (RFC 8866): one pass over the lines, attributes dispatched by name.

Session-level until the first m=, then per media section. Each level has one table of
attribute handlers keyed by name; a handler returns False when the attribute is not in the
form it types (a flag with a value, ``a=ptime:abc``, an rtpmap for an unlisted payload type),
and the attribute is then kept verbatim, in order, in ``attributes``.

The parser owns construction of everything but the document object itself, which the caller
passes as a class (:meth:`SessionDescription.parse` passes its own): so this module needs
:mod:`.session` for types only and the import graph stays acyclic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from . import model
from .errors import SdpError
from .media import MediaDescription
from .sdes import mask_keys

if TYPE_CHECKING:
    from .session import SessionDescription

_TOKEN = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$")


def parse(text: str | bytes, session_type: type[SessionDescription]) -> SessionDescription:
    """Parse ``text`` into a new ``session_type``; SdpError (only) on malformed input."""
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
    sd = session_type(timings=[])
    media: MediaDescription | None = None
    seen_origin = False
    for number, line in enumerate(lines, 1):
        if not line.strip() and number > 1:
            continue  # stray blank lines (seen in the wild) carry nothing
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise SdpError(f"line {number}: not <type>=<value>: {mask_keys(line[:60])!r}")
        kind, value = line[0], line[2:]
        if kind == "a":
            value = value.rstrip(" \t\r")  # "a=sendrecv " is common; trailing blanks mean nothing
        if number == 1:
            if kind != "v":
                raise SdpError("SDP must start with v=")
            sd.version = _int(value.strip(), "v=", 0, 0)
            continue
        try:
            if kind == "m":
                # A dynamic payload type without a=rtpmap stays nameless: listed, never
                # matched; its a=rtcp-fb / a=fmtp lines still attach to it so nothing is lost.
                media = _media_line(value)
                sd.media.append(media)
            elif media is None:
                seen_origin |= kind == "o"
                _session_line(sd, kind, value)
            else:
                _media_field(media, kind, value)
        except SdpError as e:
            raise SdpError(f"line {number}: {e}") from None
        except (ValueError, IndexError) as e:  # defensive: only SdpError leaves
            raise SdpError(f"line {number}: {e}") from None
    if not seen_origin:
        raise SdpError("missing o= line")
    if not sd.timings:
        sd.timings.append(model.Timing())
    return sd


# --------------------------------------------------------------------------- value helpers


def _int(text: str, what: str, lo: int = 0, hi: int = 2**63) -> int:
    if not text.isascii() or not text.isdigit():
        raise SdpError(f"{what}: not a number: {text!r}")
    value = int(text)
    if not lo <= value <= hi:
        raise SdpError(f"{what}: out of range: {value}")
    return value


def _connection(value: str) -> model.ConnectionData:
    parts = value.split()
    if len(parts) != 3:
        raise SdpError(f"bad connection data {value!r}")
    address = parts[2]
    if parts[1] == "IP6" and address.startswith("[") and address.endswith("]"):
        address = address[1:-1]  # RFC 4566 has no brackets; some peers write them anyway
    return model.ConnectionData(address=address, addrtype=parts[1], nettype=parts[0])


def _bandwidth(value: str) -> model.Bandwidth:
    bwtype, sep, amount = value.partition(":")
    if not sep or not bwtype:
        raise SdpError(f"bad bandwidth {value!r}")
    return model.Bandwidth(bwtype.strip(), _int(amount.strip(), "bandwidth"))


def _split2(value: str, what: str) -> tuple[str, str]:
    head, sep, tail = value.partition(" ")
    if not sep or not head or not tail.strip():
        raise SdpError(f"bad a={what}:{value}")
    return head, tail.strip()


def _split_attr(value: str) -> tuple[str, str | None]:
    name, sep, rest = value.partition(":")
    if not name or not _TOKEN.match(name):
        raise SdpError(f"bad attribute name {name[:40]!r}")
    return name, rest if sep else None


# --------------------------------------------------------------------------- session level


def _session_line(sd: SessionDescription, kind: str, value: str) -> None:
    if kind == "o":
        p = value.split()
        if len(p) != 6:
            raise SdpError(f"bad o= line {value!r}")
        sd.origin = model.Origin(p[0], p[1], _int(p[2], "o= version"), p[3], p[4], p[5])
    elif kind == "s":
        sd.name = value
    elif kind == "u":
        sd.uri = value
    elif kind == "e":
        sd.emails.append(value)
    elif kind == "p":
        sd.phones.append(value)
    elif kind == "t":
        p = value.split()
        if len(p) != 2:
            raise SdpError(f"bad t= line {value!r}")
        sd.timings.append(model.Timing(_int(p[0], "t= start"), _int(p[1], "t= stop")))
    elif kind == "r":
        if not sd.timings:
            raise SdpError("r= before t=")
        sd.timings[-1].repeats.append(value)
    elif kind == "z":
        sd.zone = value
    elif not _section_line(sd, kind, value, _SESSION_ATTRS):
        raise SdpError(f"unexpected {kind}= at session level")


class _Section(Protocol):
    """The fields both levels have (i=, c=, b=, k=, the attributes kept verbatim)."""

    information: str | None
    connection: model.ConnectionData | None
    bandwidths: list[model.Bandwidth]
    key: str | None
    attributes: list[tuple[str, str | None]]


_S = TypeVar("_S", bound=_Section)


def _section_line(
    target: _S, kind: str, value: str, attrs: dict[str, Callable[[_S, str, str | None], bool]]
) -> bool:
    """i=, c=, b=, k= or a= at either level; False for any other line."""
    if kind == "i":
        target.information = value
    elif kind == "c":
        target.connection = _connection(value)
    elif kind == "b":
        target.bandwidths.append(_bandwidth(value))
    elif kind == "k":
        target.key = value
    elif kind == "a":
        name, attr_value = _split_attr(value)
        handler = attrs.get(name)
        if handler is None or not handler(target, name, attr_value):
            target.attributes.append((name, attr_value))
    else:
        return False
    return True


class _Level(Protocol):
    """What the session and media levels share, for the handlers used at both."""

    direction: str | None
    fingerprints: list[model.Fingerprint]


# Attribute handlers: (target, name, value or None for a flag) → typed it (else kept verbatim).
SessionAttr = Callable[["SessionDescription", str, str | None], bool]
MediaAttr = Callable[[MediaDescription, str, str | None], bool]
AnyAttr = Callable[[_Level, str, str | None], bool]  # fits either level


def _direction(target: _Level, name: str, value: str | None) -> bool:
    if value is not None:
        return False
    target.direction = name
    return True


def _flag(field_name: str) -> AnyAttr:
    """A value-less attribute setting a bool field (``a=rtcp-mux``)."""

    def handle(target: _Level, name: str, value: str | None) -> bool:
        if value is not None:
            return False
        setattr(target, field_name, True)
        return True

    return handle


def _text(field_name: str) -> AnyAttr:
    """An attribute whose value is kept as text in a field (``a=ice-ufrag:...``)."""

    def handle(target: _Level, name: str, value: str | None) -> bool:
        if value is None:
            return False
        setattr(target, field_name, value)
        return True

    return handle


def _fingerprint(target: _Level, name: str, value: str | None) -> bool:
    if value is None:
        return False
    alg, fp = _split2(value, name)
    target.fingerprints.append(model.Fingerprint(alg, fp))
    return True


def _words(value: str, name: str) -> list[str]:
    """The words of an attribute that needs at least one."""
    words = value.split()
    if not words:
        raise SdpError(f"empty a={name}")
    return words


def _group(sd: SessionDescription, name: str, value: str | None) -> bool:
    if value is None:
        return False
    p = _words(value, "group")
    sd.groups.append(model.Group(p[0], p[1:]))
    return True


_SESSION_ATTRS: dict[str, SessionAttr] = {
    **dict.fromkeys(model.DIRECTIONS, _direction),
    "group": _group,
    "msid-semantic": _text("msid_semantic"),
    "ice-lite": _flag("ice_lite"),
    "ice-ufrag": _text("ice_ufrag"),
    "ice-pwd": _text("ice_pwd"),
    "ice-options": _text("ice_options"),
    "fingerprint": _fingerprint,
    "setup": _text("setup"),
}


# --------------------------------------------------------------------------- media level


def _media_line(value: str) -> MediaDescription:
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
            static = model.STATIC_PAYLOAD_TYPES.get(pt)
            if static is not None:
                m.codecs.append(model.Codec(pt, static[0], static[1], static[2]))
            else:
                m.codecs.append(model.Codec(pt, "", 0))  # named by its a=rtpmap
    else:
        m.formats = p[3:]
    return m


def _media_field(m: MediaDescription, kind: str, value: str) -> None:
    if not _section_line(m, kind, value, _MEDIA_ATTRS):
        raise SdpError(f"unexpected {kind}= in a media section")


def _codec_attr(m: MediaDescription, name: str, value: str | None) -> bool:
    """rtpmap/fmtp/rtcp-fb for a listed payload type; False keeps it as unknown."""
    if value is None or not m.is_rtp:
        return False
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


def _ssrc(m: MediaDescription, name: str, value: str | None) -> bool:
    if value is None:
        return False
    ssrc_text, rest = _split2(value, name)
    attr, sep, attr_value = rest.partition(":")
    m.ssrcs.append(
        model.SsrcAttribute(
            _int(ssrc_text, "ssrc", 0, 0xFFFFFFFF), attr, attr_value if sep else None
        )
    )
    return True


def _ssrc_group(m: MediaDescription, name: str, value: str | None) -> bool:
    if value is None:
        return False
    p = _words(value, "ssrc-group")
    m.ssrc_groups.append(model.SsrcGroup(p[0], [_int(s, "ssrc", 0, 0xFFFFFFFF) for s in p[1:]]))
    return True


def _crypto(m: MediaDescription, name: str, value: str | None) -> bool:
    if value is None:
        return False
    p = value.split(None, 3)
    if len(p) < 3:
        raise SdpError("bad a=crypto: want <tag> <suite> <key-params>")
    m.crypto.append(model.Crypto(_int(p[0], "crypto tag"), p[1], p[2], p[3] if len(p) > 3 else ""))
    return True


def _candidate(m: MediaDescription, name: str, value: str | None) -> bool:
    if value is None:
        return False
    m.candidates.append(value)
    return True


def _rtcp(m: MediaDescription, name: str, value: str | None) -> bool:
    if value is None:
        return False
    port_text, _, rest = value.strip().partition(" ")
    conn = _connection(rest) if rest.strip() else None
    m.rtcp = model.RtcpAddress(_int(port_text, "rtcp port", 0, 65535), conn)
    return True


def _extmap(m: MediaDescription, name: str, value: str | None) -> bool:
    if value is None:
        return False
    head, tail = _split2(value, name)
    id_text, _, ext_dir = head.partition("/")
    uri, _, ext_attrs = tail.partition(" ")
    m.extmaps.append(
        model.Extmap(_int(id_text, "extmap id", 1, 255), uri, ext_dir or None, ext_attrs or None)
    )
    return True


def _ms(m: MediaDescription, name: str, value: str | None) -> bool:
    """ptime / maxptime; a value that is not a plain number is kept verbatim."""
    if value is None:
        return False
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit()):
        return False
    setattr(m, name, int(digits))
    return True


_MEDIA_ATTRS: dict[str, MediaAttr] = {
    **dict.fromkeys(model.DIRECTIONS, _direction),
    "rtcp-mux": _flag("rtcp_mux"),
    "rtcp-rsize": _flag("rtcp_rsize"),
    "end-of-candidates": _flag("end_of_candidates"),
    "rtpmap": _codec_attr,
    "fmtp": _codec_attr,
    "rtcp-fb": _codec_attr,
    "mid": _text("mid"),
    "msid": _text("msid"),
    "ssrc": _ssrc,
    "ssrc-group": _ssrc_group,
    "crypto": _crypto,
    "candidate": _candidate,
    "ice-ufrag": _text("ice_ufrag"),
    "ice-pwd": _text("ice_pwd"),
    "ice-options": _text("ice_options"),
    "fingerprint": _fingerprint,
    "setup": _text("setup"),
    "rtcp": _rtcp,
    "extmap": _extmap,
    "ptime": _ms,
    "maxptime": _ms,
    "framerate": _text("framerate"),
}
