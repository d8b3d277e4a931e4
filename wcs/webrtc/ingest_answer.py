"""Codec choice for a publishing browser's offer (we receive), and its answer SDP.

Audio: Opus. Video: H.264 with packetization-mode 1, Constrained Baseline first (what
every player, recorder and RTMP target takes as is), then Baseline, then any other
profile; VP8 when no H.264 is offered. Retransmission (RTX), FEC and header extensions are
not answered: lost packets are asked for again with NACK on the media SSRC itself.
"""

from __future__ import annotations

import secrets

from wcs.sdp import (
    Codec,
    MediaDescription,
    SdpError,
    direction_of,
    h264_packetization_mode,
    h264_profile_level,
)

from .answer import MediaChoice
from .offer import Offer

# What we act on (NACK, PLI, FIR) and send (REMB: the browser's bitrate follows it).
INGEST_FEEDBACK = ("nack", "nack pli", "ccm fir", "goog-remb")


def _h264_rank(codec: Codec) -> int:
    """0: unusable (packetization-mode 0 or a bad fmtp); higher is preferred."""
    try:
        if h264_packetization_mode(codec.fmtp) != 1:
            return 0
        profile = h264_profile_level(codec.fmtp).profile
    except SdpError:
        return 0
    return {"constrained-baseline": 4, "baseline": 3}.get(profile, 2)


def choose_ingest_codec(media: MediaDescription) -> Codec | None:
    if media.kind == "audio":
        for codec in media.codecs:
            if codec.name.lower() == "opus" and codec.clock_rate == 48000:
                return codec
        return None
    if media.kind != "video":
        return None
    best: Codec | None = None
    best_rank = 0
    for codec in media.codecs:
        name = codec.name.lower()
        rank = _h264_rank(codec) if name == "h264" else (1 if name == "vp8" else 0)
        if codec.clock_rate == 90000 and rank > best_rank:
            best, best_rank = codec, rank
    return best


def negotiate_ingest(offer: Offer) -> list[MediaChoice]:
    """One choice per offered m-line; at most one audio and one video are received."""
    taken: set[str] = set()
    choices: list[MediaChoice] = []
    for index, media in enumerate(offer.media):
        mid = media.mid if media.mid is not None else str(index)
        usable = (
            media.kind not in taken
            and offer.live(media)
            and direction_of(media, offer.sdp) in ("sendonly", "sendrecv")
            and "SAVPF" in media.proto.upper()
        )
        codec = choose_ingest_codec(media) if usable else None
        if codec is None:
            choices.append(MediaChoice(index, media.kind, mid, None))
            continue
        taken.add(media.kind)
        # ssrc: ours, the sender SSRC of our RTCP (receiver reports, NACK, PLI, REMB).
        ssrc = secrets.randbits(32) or 1
        choices.append(MediaChoice(index, media.kind, mid, codec, ssrc))
    return choices
