"""Encoders of a call's outgoing audio: one ptime of 16-bit mono PCM in, one RTP payload out.

G.711 (PCMU, PCMA) is table work at 8 kHz (:mod:`wcs.media.g711`); Opus is PyAV's libopus
at 48 kHz, mono (any opus/48000/2 decoder plays a mono stream, RFC 7587 §3.1), one packet per
frame. Each encoder also knows the silence payload a receiver drops without decoding.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Protocol

from .g711 import alaw_encode, ulaw_encode

OPUS_RATE = 48000
OPUS_BITRATE = 32000
# Receivers drop these without decoding work: G.711 silence, an Opus 20 ms silent frame
# (TOC config 31, CELT FB 20 ms, then a frame that decodes to silence).
G711_SILENCE_BYTE = {"PCMU": 0xFF, "PCMA": 0xD5}
OPUS_SILENCE = b"\xf8\xff\xfe"


class FrameEncoder(Protocol):
    name: str  # rtpmap encoding name
    clock_rate: int  # RTP clock
    pcm_rate: int  # rate of the PCM it takes
    pcm_samples: int  # PCM samples per frame
    step: int  # RTP clock units per frame

    def encode(self, pcm: bytes) -> bytes | None: ...

    def silence(self) -> bytes: ...


class G711Encoder:
    def __init__(self, name: str, ptime_ms: int = 20) -> None:
        upper = name.upper()
        if upper not in G711_SILENCE_BYTE:
            raise ValueError(f"{name} is not G.711")
        self.name = upper
        self.clock_rate = self.pcm_rate = 8000
        self.pcm_samples = self.step = 8 * ptime_ms
        self._encode = ulaw_encode if upper == "PCMU" else alaw_encode
        self._silence = bytes([G711_SILENCE_BYTE[upper]]) * self.step

    def encode(self, pcm: bytes) -> bytes | None:
        return self._encode(pcm)

    def silence(self) -> bytes:
        return self._silence


class OpusEncoder:
    def __init__(self, ptime_ms: int = 20, bitrate: int = OPUS_BITRATE) -> None:
        if ptime_ms not in (10, 20, 40, 60):
            raise ValueError(f"Opus cannot frame {ptime_ms} ms")
        self.name = "opus"
        self.clock_rate = self.pcm_rate = OPUS_RATE
        self.pcm_samples = self.step = OPUS_RATE * ptime_ms // 1000
        self.ptime_ms = ptime_ms
        self.bitrate = bitrate
        self._ctx: Any = None  # opened on the first frame: a call that only sends silence
        self._pts = 0  # never pays for libopus

    def _open(self) -> Any:
        import av  # here: only calls that send Opus sounds pay for it

        ctx = av.CodecContext.create("libopus", "w")
        ctx.sample_rate = OPUS_RATE
        ctx.layout = "mono"
        ctx.format = "s16"
        ctx.bit_rate = self.bitrate
        ctx.time_base = Fraction(1, OPUS_RATE)
        ctx.options = {"frame_duration": str(self.ptime_ms), "application": "voip"}
        ctx.open()
        self._ctx = ctx
        return ctx

    def encode(self, pcm: bytes) -> bytes | None:
        """One frame; None when libopus held it back (the caller sends silence instead)."""
        import av

        ctx = self._ctx if self._ctx is not None else self._open()
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.pcm_samples)
        frame.planes[0].update(pcm)
        frame.sample_rate = OPUS_RATE
        frame.time_base = Fraction(1, OPUS_RATE)
        frame.pts = self._pts
        self._pts += self.pcm_samples
        packets = ctx.encode(frame)
        return bytes(packets[-1]) if packets else None

    def silence(self) -> bytes:
        return OPUS_SILENCE


def encoder_for(codec_name: str, ptime_ms: int = 20) -> FrameEncoder:
    """The encoder of a negotiated send codec; ValueError for one we cannot produce."""
    if codec_name.lower() == "opus":
        return OpusEncoder(ptime_ms)
    if codec_name.upper() in G711_SILENCE_BYTE:
        return G711Encoder(codec_name, ptime_ms)
    raise ValueError(f"cannot send sound in {codec_name}")
