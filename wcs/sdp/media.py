"""One SDP media section (``m=`` and its lines), typed, with its serialisation."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import (
    Bandwidth,
    Codec,
    ConnectionData,
    Crypto,
    Extmap,
    Fingerprint,
    RtcpAddress,
    SsrcAttribute,
    SsrcGroup,
    attr_line,
    field_lines,
)

# The media-level lines in the order we write them: (prefix, field), see model.field_lines.
_LINES = (
    ("i=", "information"),
    ("c=", "connection"),
    ("b=", "bandwidths"),
    ("k=", "key"),
    ("a=rtcp:", "rtcp"),
    ("a=ice-ufrag:", "ice_ufrag"),
    ("a=ice-pwd:", "ice_pwd"),
    ("a=ice-options:", "ice_options"),
    ("a=candidate:", "candidates"),
    ("a=end-of-candidates", "end_of_candidates"),
    ("a=fingerprint:", "fingerprints"),
    ("a=setup:", "setup"),
    ("a=mid:", "mid"),
    ("a=extmap:", "extmaps"),
    ("a=", "direction"),
    ("a=msid:", "msid"),
    ("a=rtcp-mux", "rtcp_mux"),
    ("a=rtcp-rsize", "rtcp_rsize"),
    ("a=crypto:", "crypto"),
)  # then the codecs' rtpmap, rtcp-fb and fmtp
_TAIL_LINES = (
    ("a=rtcp-fb:* ", "rtcp_fb_all"),
    ("a=ptime:", "ptime"),
    ("a=maxptime:", "maxptime"),
    ("a=framerate:", "framerate"),
    ("a=ssrc-group:", "ssrc_groups"),
    ("a=ssrc:", "ssrcs"),
)


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
        out += field_lines(self, _LINES)
        a = out.append
        for c in self.codecs:
            if c.name:
                a(f"a=rtpmap:{c.rtpmap}")
            out.extend(f"a=rtcp-fb:{c.payload_type} {fb}" for fb in c.rtcp_fb)
            if c.fmtp is not None:
                a(f"a=fmtp:{c.payload_type} {c.fmtp}")
        out += field_lines(self, _TAIL_LINES)
        out.extend(attr_line(n, v) for n, v in self.attributes)
        return out
