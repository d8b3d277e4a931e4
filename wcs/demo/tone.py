"""The demo tone: a 1 kHz beep of 200 ms once a second, G.711 mu-law (PCMU), 8 kHz."""

from __future__ import annotations

import math
from functools import cache

from wcs.media.g711 import linear_to_ulaw

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms
TONE_HZ = 1000
BEEP_MS = 200
LEVEL = 8000  # about -12 dBFS: clearly audible, never clipping


@cache
def second_of_tone() -> bytes:
    """One second of PCMU: the beep then silence; it loops without a click (whole cycles)."""
    beep = SAMPLE_RATE * BEEP_MS // 1000
    out = bytearray()
    for n in range(SAMPLE_RATE):
        sample = int(LEVEL * math.sin(2 * math.pi * TONE_HZ * n / SAMPLE_RATE)) if n < beep else 0
        out.append(linear_to_ulaw(sample))
    return bytes(out)


def frame_at(sample_index: int) -> bytes:
    """The 20 ms PCMU frame starting at ``sample_index`` (samples since the start of a second
    are what matter, so the beep lands on each second of the clock)."""
    tone = second_of_tone()
    start = sample_index % SAMPLE_RATE
    end = start + FRAME_SAMPLES
    if end <= SAMPLE_RATE:
        return tone[start:end]
    return tone[start:] + tone[: end - SAMPLE_RATE]
