"""Codec matching and selection between two codec lists, and our default codec lists."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import SdpError
from .h264 import h264_packetization_mode, h264_profiles_compatible
from .model import Codec


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
