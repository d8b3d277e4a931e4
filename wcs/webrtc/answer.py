"""Codec choice against a browser's offer, and the answer SDP of a send-only viewer."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from wcs.sdp import (
    Codec,
    ConnectionData,
    Fingerprint,
    Group,
    MediaDescription,
    Origin,
    SdpError,
    SessionDescription,
    SsrcAttribute,
    direction_of,
    h264_packetization_mode,
    h264_profile_level,
)

from .offer import Offer

# Feedback we act on; anything else offered (goog-remb, transport-cc) is not answered.
SUPPORTED_FEEDBACK = ("nack", "nack pli", "ccm fir")


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
    codec: Codec | None  # the offer's codec we send; None: rejected (port 0)
    ssrc: int = 0
    track_id: str = ""
    transcode: bool = False  # the source's codec is not offered; feed ``codec`` (opus) instead

    @property
    def accepted(self) -> bool:
        return self.codec is not None


def _h264_score(source: SourceTrack, codec: Codec) -> int:
    """0: unusable; higher is a better match of profile, for the same packetization mode."""
    try:
        if h264_packetization_mode(codec.fmtp) != h264_packetization_mode(source.fmtp):
            return 0
        src = h264_profile_level(source.fmtp)
        offered = h264_profile_level(codec.fmtp)
    except SdpError:
        return 0
    # Levels are not compared: browsers send level-asymmetry-allowed=1 and decode any level.
    if (src.profile_idc, src.profile_iop) == (offered.profile_idc, offered.profile_iop):
        return 3
    if src.profile == offered.profile:
        return 2
    if src.profile == "constrained-baseline" and offered.profile == "baseline":
        return 1  # a Constrained Baseline stream is a valid Baseline stream
    return 0


def choose_codec(media: MediaDescription, source: SourceTrack) -> tuple[Codec | None, bool]:
    """(codec to answer with, needs transcoding to it)."""
    name = source.codec.lower()
    if name == "h264":
        best: Codec | None = None
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
            and offer.live(media)
            and direction_of(media, offer.sdp) in ("recvonly", "sendrecv")
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
        """The value of ``a=candidate:``."""
        return f"{self.foundation} 1 udp {self.priority} {self.ip} {self.port} typ host"


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
    direction: str = "sendonly",
    feedback: tuple[str, ...] = SUPPORTED_FEEDBACK,
) -> str:
    """The answer: BUNDLE, rtcp-mux, ``direction`` on every accepted m-line; sending, one
    msid stream for every track (a receive-only answer announces no source)."""
    sending = direction != "recvonly"
    ip = candidates[0].ip if candidates else "0.0.0.0"
    port = candidates[0].port if candidates else 9
    family = "IP6" if ":" in ip else "IP4"
    sd = SessionDescription(origin=Origin(session_id=str(secrets.randbits(62)), session_version=2))
    accepted = [c.mid for c in choices if c.accepted]
    if accepted:
        sd.groups.append(Group("BUNDLE", accepted))
    if sending:
        sd.msid_semantic = f" WMS {stream_id}"
    for choice in choices:
        offered = offer.media[choice.index]
        codec = choice.codec
        if codec is None:
            rejected = MediaDescription(
                offered.kind,
                0,
                offered.proto,
                codecs=[c.copy() for c in offered.codecs[:1]],
                formats=list(offered.formats),
                connection=ConnectionData("0.0.0.0"),
                mid=choice.mid,
                direction="inactive",
            )
            for c in rejected.codecs:
                c.rtcp_fb, c.fmtp = [], None
            sd.media.append(rejected)
            continue
        answered = codec.copy()
        answered.rtcp_fb = [fb for fb in offered.feedback(codec) if fb in feedback]
        msid = f"{stream_id} {choice.track_id}" if sending else None
        sd.media.append(
            MediaDescription(
                offered.kind,
                port,
                offered.proto,
                codecs=[answered],
                connection=ConnectionData(ip, family),
                mid=choice.mid,
                direction=direction,
                msid=msid,
                rtcp_mux=True,
                ice_ufrag=ice_ufrag,
                ice_pwd=ice_pwd,
                fingerprints=[Fingerprint("sha-256", fingerprint)],
                setup=setup,
                candidates=[c.sdp() for c in candidates],
                end_of_candidates=True,
                ssrcs=[
                    SsrcAttribute(choice.ssrc, "cname", cname),
                    SsrcAttribute(choice.ssrc, "msid", msid),
                ]
                if msid is not None
                else [],
            )
        )
    return sd.serialize()
