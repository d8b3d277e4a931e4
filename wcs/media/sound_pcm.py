"""A :class:`~wcs.media.sound.SoundClip` from PCM already in memory, at any rate.

:func:`wcs.media.sound.decode` makes clips from files; this makes them from 16-bit mono
PCM (a generated tone, a stream's decoded audio), resampled with PyAV to the rates a clip
carries (8 kHz for G.711 calls, 48 kHz for Opus ones).
"""

from __future__ import annotations

from .sound import RATES, SoundClip, SoundError


def resample_s16(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """16-bit mono PCM from one rate to another (PyAV's swresample)."""
    if from_rate == to_rate:
        return bytes(pcm)
    import av  # here: resampling is rare (a sound per request)

    frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
    frame.planes[0].update(pcm[: 2 * (len(pcm) // 2)])
    frame.sample_rate = from_rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)
    out = bytearray()
    for f in [*resampler.resample(frame), *resampler.resample(None)]:
        out += bytes(f.planes[0])[: 2 * f.samples]
    return bytes(out)


def clip_from_pcm(name: str, pcm: bytes, rate: int) -> SoundClip:
    """A clip of ``pcm`` (s16le mono at ``rate``); SoundError for an empty or odd buffer."""
    if rate <= 0 or len(pcm) < 2 or len(pcm) % 2:
        raise SoundError(f"sound {name!r} has no usable 16-bit samples")
    return SoundClip(name, {r: resample_s16(pcm, rate, r) for r in RATES})
