"""A stream's audio as a live PCM source for a call's outgoing audio (sans-IO).

``/call/inject_stream`` subscribes a :class:`LiveAudio` to a stream's audio frames
(``push``: PCMU, PCMA or Opus payloads as the stream carries them); the call's
:class:`~wcs.rtp.outgoing_audio.OutgoingAudio` takes one ptime of 16-bit mono PCM per slot
(``take``), which its encoder turns into the call's negotiated codec. So the source's codec
and clock never reach the call: its RTP keeps its own SSRC, sequence numbers and timestamps
across silence, sounds and injected streams.

Decoding: Opus with PyAV's libopus, resampled to the call encoder's PCM rate (8 kHz for
G.711, 48 kHz for Opus); G.711 by table, upsampled with PyAV for an Opus call. Same codec,
same framing (Opus frames of the call's ptime into an Opus call; G.711 frames of its ptime
into a call in the same G.711 law): the payloads pass through as they are (``take_encoded``),
no decoding, re-stamped by the call's RTP stream like everything it sends.

Jitter and drift: the source's frames arrive in bursts and on the source's clock, the call
takes them on its own. The buffer starts playing once ``jitter_ms`` are queued (again after
an underrun, while silence goes out) and never holds more than ``max_ms``: older audio is
dropped, which bounds both the memory and the delay a faster source could build up.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from fractions import Fraction

import av

from wcs.media.audio import opus_duration
from wcs.media.g711 import alaw_decode, ulaw_decode
from wcs.rtmp.pipeline import OpusDecoder
from wcs.rtp.outgoing_audio import AudioFormat

log = logging.getLogger(__name__)

_G711 = {"PCMU": ulaw_decode, "PCMA": alaw_decode}


def decodable(codec: str) -> bool:
    """Whether a stream's audio codec can be injected (PCMU, PCMA, Opus)."""
    return codec.upper() in _G711 or codec.lower() == "opus"


class _G711Decoder:
    """G.711 payloads → s16 mono at ``rate`` (8 kHz as is, else resampled by PyAV)."""

    def __init__(self, codec: str, rate: int) -> None:
        self._decode = _G711[codec.upper()]
        self._resampler = (
            None if rate == 8000 else av.AudioResampler(format="s16", layout="mono", rate=rate)
        )
        self._pts = 0

    def decode(self, payload: bytes) -> bytes:
        pcm = self._decode(payload)
        if self._resampler is None or not pcm:
            return pcm
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
        frame.planes[0].update(pcm)
        frame.sample_rate = 8000
        frame.time_base = Fraction(1, 8000)
        frame.pts = self._pts
        self._pts += frame.samples
        out = bytearray()
        for mono in self._resampler.resample(frame):
            out += bytes(mono.planes[0])[: mono.samples * 2]
        return bytes(out)


class LiveAudio:
    """A bounded PCM buffer fed with a stream's audio payloads, taken per ptime."""

    def __init__(
        self, name: str, fmt: AudioFormat, *, jitter_ms: int = 60, max_ms: int = 300
    ) -> None:
        self.name = name  # the injected stream's name
        self.format = fmt
        self.rate = rate = fmt.pcm_rate
        self._prime = 2 * rate * max(0, jitter_ms) // 1000  # bytes
        self._max = max(self._prime, 2 * rate * max(1, max_ms) // 1000)
        self._buf = bytearray()
        self._playing = False
        # Passed through: payloads in the call's codec and framing, bounded alike.
        self._ptime_ms = fmt.step * 1000 / (48000 if fmt.codec.lower() == "opus" else 8000)
        self._frames: deque[bytes] = deque()
        self._prime_frames = math.ceil(max(0, jitter_ms) / self._ptime_ms)
        self._max_frames = max(self._prime_frames, math.ceil(max(1, max_ms) / self._ptime_ms))
        self._frames_playing = False
        self.passed = 0  # frames passed through without decoding
        self._codec: str | None = None
        self._decoder: OpusDecoder | _G711Decoder | None = None
        self.frames_in = 0
        self.frames_out = 0
        self.underruns = 0
        self.dropped_ms = 0.0
        self.ignored = 0  # frames in a codec we cannot decode (telephone-event, unknown)
        self.errors = 0

    @property
    def buffered_ms(self) -> float:
        return len(self._buf) / 2 / self.rate * 1000 + len(self._frames) * self._ptime_ms

    def _fits(self, codec: str, payload: bytes) -> bool:
        """Whether a payload can go into the call as it is (same codec, same framing)."""
        fmt = self.format
        if codec.lower() != fmt.codec.lower():
            return False
        if codec.lower() != "opus":
            return len(payload) == fmt.step  # G.711: a byte per sample
        try:
            return opus_duration(payload) == fmt.step
        except ValueError:
            return False

    def push(self, codec: str, payload: bytes) -> None:
        """One audio payload of the stream (any frame it carries; others are counted)."""
        if not payload or not decodable(codec):
            self.ignored += 1
            return
        if self._fits(codec, payload):
            self.frames_in += 1
            self._frames.append(payload)
            if len(self._frames) > self._max_frames:
                self._frames.popleft()
                self.dropped_ms += self._ptime_ms
            return
        if codec != self._codec:  # first frame, or the publisher changed codec
            self._codec = codec
            self._decoder = (
                OpusDecoder(self.rate)
                if codec.lower() == "opus"
                else _G711Decoder(codec, self.rate)
            )
        assert self._decoder is not None
        try:
            pcm = self._decoder.decode(payload)
        except Exception:  # a corrupt frame costs its own duration, not the injection
            self.errors += 1
            log.debug("injected stream %s: a frame failed to decode", self.name, exc_info=True)
            return
        self.frames_in += 1
        self._buf += pcm
        over = len(self._buf) - self._max
        if over > 0:
            over += over & 1  # whole samples
            del self._buf[:over]
            self.dropped_ms += over / 2 / self.rate * 1000

    def take_encoded(self, fmt: AudioFormat) -> bytes | None:
        """The next payload passed through, None when there is none to pass (then ``take``
        is asked for PCM)."""
        if fmt != self.format or not self._frames:
            if self._frames_playing and not self._buf:
                self._frames_playing = False  # ran dry: wait for jitter_ms again
                self.underruns += 1
            return None
        if not self._frames_playing:
            if len(self._frames) < max(1, self._prime_frames):
                return None
            self._frames_playing = True
        self.frames_out += 1
        self.passed += 1
        return self._frames.popleft()

    def take(self, samples: int, rate: int) -> bytes | None:
        """The next ``samples`` at ``rate`` (the call encoder's), None while there is not
        enough audio buffered (the call sends silence in that slot)."""
        if rate != self.rate:
            return None
        need = 2 * samples
        if not self._playing:
            if len(self._buf) < max(need, self._prime):
                return None
            self._playing = True
        if len(self._buf) < need:
            self._playing = False  # wait for jitter_ms again
            self.underruns += 1
            return None
        out = bytes(self._buf[:need])
        del self._buf[:need]
        self.frames_out += 1
        return out

    def snapshot(self) -> dict[str, object]:
        return {
            "codec": self._codec,
            "passedThrough": self.passed,
            "framesIn": self.frames_in,
            "framesOut": self.frames_out,
            "bufferedMs": round(self.buffered_ms, 1),
            "underruns": self.underruns,
            "droppedMs": round(self.dropped_ms, 1),
            "decodeErrors": self.errors,
        }


__all__ = ["LiveAudio", "decodable"]
