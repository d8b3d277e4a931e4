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
        out.extend(attr_line(n, v) for n, v in self.attributes)
        return out
