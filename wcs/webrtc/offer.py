"""A minimal reader of a browser's SDP offer: what the answer and the transport need.

Stand-in until the shared ``wcs.sdp`` model exists; only what a WebRTC viewer offer carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class OfferError(ValueError):
    """The offer cannot be answered; the message says why."""


@dataclass(slots=True)
class OfferedCodec:
    pt: int
    name: str  # as written, e.g. "H264", "opus"
    clock_rate: int
    channels: int | None = None
    fmtp: str = ""  # the raw fmtp parameter string
    rtcp_fb: list[str] = field(default_factory=list)

    @property
    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in self.fmtp.split(";"):
            key, _, value = part.strip().partition("=")
            if key:
                out[key.strip().lower()] = value.strip()
        return out


@dataclass(slots=True)
class OfferedMedia:
    kind: str  # "audio", "video", "application", ...
    port: int
    proto: str
    formats: list[str]
    mid: str | None = None
    direction: str = "sendrecv"
    codecs: list[OfferedCodec] = field(default_factory=list)
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    fingerprints: list[tuple[str, str]] = field(default_factory=list)
    setup: str | None = None
    rtcp_mux: bool = False
    candidates: list[str] = field(default_factory=list)  # the a=candidate values


@dataclass(slots=True)
class Offer:
    media: list[OfferedMedia]
    ice_ufrag: str
    ice_pwd: str
    fingerprints: list[tuple[str, str]]
    setup: str  # "actpass", "active" or "passive"
    bundle: list[str]
    ice_lite: bool = False


def parse_offer(text: str) -> Offer:
    session_ufrag = session_pwd = session_setup = None
    session_fp: list[tuple[str, str]] = []
    bundle: list[str] = []
    ice_lite = False
    media: list[OfferedMedia] = []
    cur: OfferedMedia | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            parts = value.split()
            if len(parts) < 3:
                raise OfferError(f"bad m-line: {value!r}")
            try:
                port = int(parts[1].split("/")[0])
            except ValueError as exc:
                raise OfferError(f"bad m-line port: {value!r}") from exc
            cur = OfferedMedia(parts[0], port, parts[2], parts[3:])
            media.append(cur)
            continue
        if kind != "a":
            continue
        name, _, arg = value.partition(":")
        if name == "group" and arg.startswith("BUNDLE"):
            bundle = arg.split()[1:]
        elif name == "ice-lite":
            ice_lite = True
        elif name == "ice-ufrag":
            if cur is None:
                session_ufrag = arg
            else:
                cur.ice_ufrag = arg
        elif name == "ice-pwd":
            if cur is None:
                session_pwd = arg
            else:
                cur.ice_pwd = arg
        elif name == "fingerprint":
            algo, _, fp = arg.partition(" ")
            entry = (algo.strip().lower(), fp.strip().upper())
            (session_fp if cur is None else cur.fingerprints).append(entry)
        elif name == "setup":
            if cur is None:
                session_setup = arg.strip()
            else:
                cur.setup = arg.strip()
        elif cur is None:
            continue
        elif name == "mid":
            cur.mid = arg.strip()
        elif name in ("sendrecv", "sendonly", "recvonly", "inactive"):
            cur.direction = name
        elif name == "rtcp-mux":
            cur.rtcp_mux = True
        elif name == "candidate":
            cur.candidates.append(arg)
        elif name == "rtpmap":
            _rtpmap(cur, arg)
        elif name in ("fmtp", "rtcp-fb"):
            pt_text, _, rest = arg.partition(" ")
            codec = _codec(cur, pt_text)
            if codec is not None:
                if name == "fmtp":
                    codec.fmtp = rest.strip()
                else:
                    codec.rtcp_fb.append(rest.strip())
    if not media:
        raise OfferError("the offer has no media")
    for m in media:
        _add_static(m)
    first = next((m for m in media if m.port != 0), media[0])
    ufrag = first.ice_ufrag or session_ufrag
    pwd = first.ice_pwd or session_pwd
    if not ufrag or not pwd:
        raise OfferError("the offer has no ICE credentials")
    fingerprints = first.fingerprints or session_fp
    if not fingerprints:
        raise OfferError("the offer has no DTLS fingerprint")
    setup = first.setup or session_setup or "actpass"
    if setup not in ("actpass", "active", "passive"):
        raise OfferError(f"bad a=setup {setup!r}")
    return Offer(media, ufrag, pwd, fingerprints, setup, bundle, ice_lite)


def _rtpmap(media: OfferedMedia, arg: str) -> None:
    pt_text, _, enc = arg.partition(" ")
    parts = enc.strip().split("/")
    try:
        pt = int(pt_text)
        clock = int(parts[1]) if len(parts) > 1 else 0
        channels = int(parts[2]) if len(parts) > 2 else None
    except ValueError:
        return  # a malformed rtpmap only loses that codec
    media.codecs.append(OfferedCodec(pt, parts[0], clock, channels))


_STATIC = {0: ("PCMU", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000)}


def _add_static(media: OfferedMedia) -> None:
    # Static payload types may be offered without an rtpmap (RFC 3551).
    known = {c.pt for c in media.codecs}
    for fmt in media.formats:
        if fmt.isdigit() and int(fmt) in _STATIC and int(fmt) not in known:
            name, clock = _STATIC[int(fmt)]
            media.codecs.append(OfferedCodec(int(fmt), name, clock, 1))


def _codec(media: OfferedMedia, pt_text: str) -> OfferedCodec | None:
    try:
        pt = int(pt_text)
    except ValueError:
        return None
    for codec in media.codecs:
        if codec.pt == pt:
            return codec
    return None
