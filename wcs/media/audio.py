"""Audio codec facts and RTP framing: PCMU, PCMA, Opus, telephone-event (RFC 4733).

An RTP audio payload becomes one ``AudioFrame`` whose ``duration`` (in RTP clock units,
i.e. samples at ``clock_rate``) comes from the payload itself: one byte per sample for
G.711, the TOC byte(s) for Opus (RFC 6716 3.1), the duration field for telephone-event.
G.711 sample conversion lives in ``wcs.media.g711`` and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode


@dataclass(frozen=True, slots=True)
class AudioCodec:
    name: str  # as in SDP rtpmap, upper case for the static ones
    clock_rate: int
    channels: int
    static_pt: int | None  # RFC 3551 static payload type; None: dynamic


PCMU = AudioCodec("PCMU", 8000, 1, 0)
PCMA = AudioCodec("PCMA", 8000, 1, 8)
OPUS = AudioCodec("opus", 48000, 2, None)  # always opus/48000/2 in SDP (RFC 7587)
TELEPHONE_EVENT = AudioCodec("telephone-event", 8000, 1, None)

_BY_NAME = {c.name.lower(): c for c in (PCMU, PCMA, OPUS, TELEPHONE_EVENT)}
STATIC_PAYLOAD_TYPES = {0: PCMU, 8: PCMA}


def codec_by_name(name: str) -> AudioCodec | None:
    """Look up an rtpmap encoding name (case-insensitive)."""
    return _BY_NAME.get(name.lower())


def codecs_by_payload_type(names: Iterable[tuple[int, str]]) -> dict[int, AudioCodec]:
    """(payload type, rtpmap name) pairs -> the audio codecs we know, by payload type."""
    return {pt: c for pt, name in names if (c := codec_by_name(name)) is not None}


@dataclass(slots=True)
class AudioFrame:
    codec: str
    timestamp: int  # RTP timestamp
    clock_rate: int
    payload: bytes
    duration: int  # in clock units (samples at clock_rate)

    @property
    def seconds(self) -> float:
        return self.duration / self.clock_rate


# Opus frame sizes in 48 kHz samples for each TOC config (RFC 6716 table 2).
_OPUS_FRAME_SAMPLES = (
    (480, 960, 1920, 2880) * 3  # SILK NB, MB, WB: 10, 20, 40, 60 ms
    + (480, 960) * 2  # Hybrid SWB, FB: 10, 20 ms
    + (120, 240, 480, 960) * 4  # CELT NB, WB, SWB, FB: 2.5, 5, 10, 20 ms
)


def opus_duration(payload: bytes) -> int:
    """Samples at 48 kHz in one Opus packet; ValueError if the TOC is malformed."""
    if not payload:
        raise ValueError("empty Opus packet")
    toc = payload[0]
    per_frame = _OPUS_FRAME_SAMPLES[toc >> 3]
    code = toc & 0x03
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    else:
        if len(payload) < 2:
            raise ValueError("Opus code 3 packet without frame count")
        frames = payload[1] & 0x3F
        if frames == 0:
            raise ValueError("Opus packet with zero frames")
    total = per_frame * frames
    if total > 5760:  # 120 ms is the maximum (RFC 6716 3.2.5)
        raise ValueError("Opus packet longer than 120 ms")
    return total


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """RFC 4733 2.3 named event (DTMF 0-9 = 0-9, * = 10, # = 11, A-D = 12-15)."""

    event: int
    end: bool
    volume: int  # -dBm0, 0..63
    duration: int  # clock units since the event's start timestamp

    @property
    def digit(self) -> str | None:
        return "0123456789*#ABCD"[self.event] if self.event < 16 else None


def parse_telephone_event(payload: bytes) -> TelephoneEvent:
    if len(payload) < 4:
        raise ValueError("telephone-event payload shorter than 4 bytes")
    return TelephoneEvent(
        event=payload[0],
        end=bool(payload[1] & 0x80),
        volume=payload[1] & 0x3F,
        duration=(payload[2] << 8) | payload[3],
    )


def frame_from_rtp(codec: AudioCodec, payload: bytes, timestamp: int) -> AudioFrame:
    """One RTP payload → AudioFrame; ValueError for a payload that cannot be framed."""
    name = codec.name
    if name in ("PCMU", "PCMA"):
        duration = len(payload) // codec.channels
    elif name == "opus":
        duration = opus_duration(payload)
    elif name == "telephone-event":
        duration = parse_telephone_event(payload).duration
    else:
        raise ValueError(f"no framing rule for {name}")
    return AudioFrame(name, timestamp, codec.clock_rate, payload, duration)


def split_g711(data: bytes, ptime_ms: int = 20, clock_rate: int = 8000) -> list[bytes]:
    """Cut a G.711 byte stream into RTP payloads of ``ptime_ms`` (the last may be shorter)."""
    step = clock_rate * ptime_ms // 1000
    if step <= 0:
        raise ValueError("ptime too small")
    return [data[i : i + step] for i in range(0, len(data), step)]


__all__ = [
    "OPUS",
    "PCMA",
    "PCMU",
    "STATIC_PAYLOAD_TYPES",
    "TELEPHONE_EVENT",
    "AudioCodec",
    "AudioFrame",
    "TelephoneEvent",
    "alaw_decode",
    "alaw_encode",
    "codec_by_name",
    "frame_from_rtp",
    "opus_duration",
    "parse_telephone_event",
    "split_g711",
    "ulaw_decode",
    "ulaw_encode",
]
