"""Codec choice against a browser's offer, and the answer SDP of a send-only viewer."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from .offer import Offer, OfferedCodec, OfferedMedia


@dataclass(frozen=True, slots=True)
class SourceTrack:
    """What the stream carries on one track, as received from the source (e.g. SIP)."""

    kind: str  # "audio" or "video"
    codec: str  # "H264", "PCMU", "PCMA", "opus", "VP8"
    clock_rate: int
    fmtp: dict[str, str] = field(default_factory=dict)
    channels: int = 1


@dataclass(frozen=True, slots=True)
class MediaChoice:
    """How one offered m-line is answered."""

    index: int  # position of the m-line in the offer
    kind: str
    mid: str
    codec: OfferedCodec | None  # None: rejected (port 0)
    ssrc: int = 0
    track_id: str = ""
    transcode: bool = False  # the source's codec is not offered; feed ``codec`` (opus) instead

    @property
    def accepted(self) -> bool:
        return self.codec is not None


def h264_profile(params: dict[str, str]) -> tuple[int, int]:
    """(profile_idc, constraint flags) of a profile-level-id; absent means 42e01f (RFC 6184)."""
    plid = params.get("profile-level-id", "42e01f")
    try:
        value = int(plid, 16)
    except ValueError:
        return (-1, -1)
    return (value >> 16, (value >> 8) & 0xFF)


def _h264_score(source: SourceTrack, codec: OfferedCodec) -> int:
    """0: unusable; higher is a better match of profile and packetization mode."""
    params = codec.params
    if params.get("packetization-mode", "0") != source.fmtp.get("packetization-mode", "0"):
        return 0
    src_profile, src_flags = h264_profile(source.fmtp)
    profile, flags = h264_profile(params)
    if profile != src_profile:
        return 0
    # Level is not compared: browsers send level-asymmetry-allowed=1 and decode any level.
    return 2 if flags == src_flags else 1


def choose_codec(media: OfferedMedia, source: SourceTrack) -> tuple[OfferedCodec | None, bool]:
    """(codec to answer with, needs transcoding to it)."""
    name = source.codec.lower()
    if name == "h264":
        best: OfferedCodec | None = None
        best_score = 0
        for codec in media.codecs:
            if codec.name.lower() == "h264" and codec.clock_rate == 90000:
                score = _h264_score(source, codec)
                if score > best_score:
                    best, best_score = codec, score
        return best, False
    for codec in media.codecs:
        if codec.name.lower() == name and codec.clock_rate == source.clock_rate:
            return codec, False
    if source.kind == "audio":
        for codec in media.codecs:
            if codec.name.lower() == "opus" and codec.clock_rate == 48000:
                return codec, True
    return None, False


def negotiate(offer: Offer, tracks: list[SourceTrack]) -> list[MediaChoice]:
    """One choice per offered m-line; each source track feeds at most one m-line."""
    left = {t.kind: t for t in tracks}
    choices: list[MediaChoice] = []
    for index, media in enumerate(offer.media):
        mid = media.mid if media.mid is not None else str(index)
        source = left.get(media.kind)
        usable = (
            source is not None
            and media.port != 0
            and media.direction in ("recvonly", "sendrecv")
            and "SAVPF" in media.proto.upper()
        )
        codec, transcode = choose_codec(media, source) if usable and source else (None, False)
        if codec is None:
            choices.append(MediaChoice(index, media.kind, mid, None))
            continue
        del left[media.kind]
        ssrc = secrets.randbits(32) or 1
        choices.append(
            MediaChoice(index, media.kind, mid, codec, ssrc, secrets.token_hex(8), transcode)
        )
    return choices


@dataclass(frozen=True, slots=True)
class LocalCandidate:
    foundation: str
    ip: str
    port: int
    priority: int

    def sdp(self) -> str:
        return f"candidate:{self.foundation} 1 udp {self.priority} {self.ip} {self.port} typ host"


def build_answer(
    offer: Offer,
    choices: list[MediaChoice],
    *,
    ice_ufrag: str,
    ice_pwd: str,
    candidates: list[LocalCandidate],
    fingerprint: str,
    setup: str,
    stream_id: str,
    cname: str,
) -> str:
    """The answer: BUNDLE, rtcp-mux, sendonly, one msid stream for every track."""
    session_id = secrets.randbits(62)
    ip = candidates[0].ip if candidates else "0.0.0.0"
    port = candidates[0].port if candidates else 9
    family = "IP6" if ":" in ip else "IP4"
    accepted = [c.mid for c in choices if c.accepted]
    lines = ["v=0", f"o=- {session_id} 2 IN IP4 127.0.0.1", "s=-", "t=0 0"]
    if accepted:
        lines.append("a=group:BUNDLE " + " ".join(accepted))
    lines.append(f"a=msid-semantic: WMS {stream_id}")
    for choice in choices:
        media = offer.media[choice.index]
        codec = choice.codec
        if codec is None:
            fmt = media.formats[0] if media.formats else "0"
            lines += [f"m={media.kind} 0 {media.proto} {fmt}", "c=IN IP4 0.0.0.0"]
            lines += [f"a=mid:{choice.mid}", "a=inactive"]
            continue
        lines += [
            f"m={media.kind} {port} {media.proto} {codec.pt}",
            f"c=IN {family} {ip}",
            f"a=mid:{choice.mid}",
            "a=sendonly",
            f"a=ice-ufrag:{ice_ufrag}",
            f"a=ice-pwd:{ice_pwd}",
            f"a=fingerprint:sha-256 {fingerprint}",
            f"a=setup:{setup}",
            "a=rtcp-mux",
        ]
        enc = f"{codec.name}/{codec.clock_rate}"
        if codec.channels and codec.channels > 1:
            enc += f"/{codec.channels}"
        lines.append(f"a=rtpmap:{codec.pt} {enc}")
        for fb in codec.rtcp_fb:
            if fb in ("nack", "nack pli", "ccm fir"):
                lines.append(f"a=rtcp-fb:{codec.pt} {fb}")
        if codec.fmtp:
            lines.append(f"a=fmtp:{codec.pt} {codec.fmtp}")
        lines += [
            f"a=msid:{stream_id} {choice.track_id}",
            f"a=ssrc:{choice.ssrc} cname:{cname}",
            f"a=ssrc:{choice.ssrc} msid:{stream_id} {choice.track_id}",
        ]
        lines += [f"a={c.sdp()}" for c in candidates]
        lines.append("a=end-of-candidates")
    return "\r\n".join(lines) + "\r\n"
