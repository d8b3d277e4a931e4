"""FLV tag bodies as RTMP audio/video/data messages carry them (FLV spec v10, annex E).

Video: H.264 as AVC (codec id 7): one sequence header holding the
AVCDecoderConfigurationRecord, then NAL units in AVCC form (4-byte big-endian lengths).
Audio: AAC (sound format 10) with its AudioSpecificConfig sequence header, or G.711
pass-through (7 = A-law, 8 = μ-law; 8 kHz mono by definition).
Also the timestamp helpers a live publisher needs: :class:`MonotonicTimestamps` and
:class:`Interleaver`.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from wcs.media.h264.nal import (
    avc_decoder_configuration_record,
    split_annexb,  # noqa: F401  (part of the FLV API: Annex B in)
)

from .errors import RtmpError

VIDEO_CODEC_AVC: Final = 7
AUDIO_FORMAT_G711A: Final = 7
AUDIO_FORMAT_G711U: Final = 8
AUDIO_FORMAT_AAC: Final = 10

_KEY: Final = 0x10
_INTER: Final = 0x20
_AVC_SEQ: Final = 0
_AVC_NALU: Final = 1
_AVC_EOS: Final = 2
# AAC: the spec fixes rate=44 kHz, 16-bit, stereo in the tag header whatever the stream is;
# the AudioSpecificConfig carries the truth.
_AAC_FLAGS: Final = (AUDIO_FORMAT_AAC << 4) | 0x0F
# G.711: rate bits 0 (the format implies 8 kHz), 16-bit decoded samples, mono.
_G711A_FLAGS: Final = (AUDIO_FORMAT_G711A << 4) | 0x02
_G711U_FLAGS: Final = (AUDIO_FORMAT_G711U << 4) | 0x02

AAC_SAMPLE_RATES: Final = (
    96000,
    88200,
    64000,
    48000,
    44100,
    32000,
    24000,
    22050,
    16000,
    12000,
    11025,
    8000,
    7350,
)


# -- video ---------------------------------------------------------------------------------


def avcc(nalus: Iterable[bytes]) -> bytes:
    """NAL units with 4-byte length prefixes."""
    return b"".join(struct.pack(">I", len(n)) + n for n in nalus)


def video_sequence_header(sps: bytes, pps: bytes | Iterable[bytes]) -> bytes:
    """The AVC sequence header tag body: the AVCDecoderConfigurationRecord."""
    try:
        record = avc_decoder_configuration_record(sps, pps)
    except ValueError as exc:
        raise RtmpError(str(exc)) from None
    return bytes([_KEY | VIDEO_CODEC_AVC, _AVC_SEQ, 0, 0, 0]) + record


def video_frame(avcc_payload: bytes, keyframe: bool, composition_time: int = 0) -> bytes:
    """One access unit (AVCC payload). Composition time is 0 for streams without B-frames."""
    flags = (_KEY if keyframe else _INTER) | VIDEO_CODEC_AVC
    return (
        bytes([flags, _AVC_NALU]) + (composition_time & 0xFFFFFF).to_bytes(3, "big") + avcc_payload
    )


def video_end_of_sequence() -> bytes:
    return bytes([_KEY | VIDEO_CODEC_AVC, _AVC_EOS, 0, 0, 0])


# -- audio ---------------------------------------------------------------------------------


def aac_audio_specific_config(sample_rate: int, channels: int, object_type: int = 2) -> bytes:
    """The 2-byte AudioSpecificConfig (ISO 14496-3 1.6.2.1); object type 2 is AAC-LC."""
    try:
        index = AAC_SAMPLE_RATES.index(sample_rate)
    except ValueError:
        raise RtmpError(f"AAC sample rate {sample_rate} has no index") from None
    if not 1 <= channels <= 7:
        raise RtmpError(f"AAC channel configuration {channels} unsupported")
    bits = (object_type << 11) | (index << 7) | (channels << 3)
    return struct.pack(">H", bits)


def parse_audio_specific_config(asc: bytes) -> tuple[int, int, int]:
    """(object type, sample rate, channels) of an AudioSpecificConfig (no escape forms)."""
    if len(asc) < 2:
        raise RtmpError("AudioSpecificConfig too short")
    bits = struct.unpack(">H", asc[:2])[0]
    index = (bits >> 7) & 0x0F
    if index >= len(AAC_SAMPLE_RATES):
        raise RtmpError(f"AAC sample rate index {index} unsupported")
    return bits >> 11, AAC_SAMPLE_RATES[index], (bits >> 3) & 0x0F


def audio_aac_sequence_header(asc: bytes) -> bytes:
    return bytes([_AAC_FLAGS, 0]) + asc


def audio_aac_frame(raw_aac: bytes) -> bytes:
    """One raw AAC access unit (no ADTS header)."""
    return bytes([_AAC_FLAGS, 1]) + raw_aac


def audio_g711(payload: bytes, alaw: bool) -> bytes:
    return bytes([_G711A_FLAGS if alaw else _G711U_FLAGS]) + payload


# -- metadata ------------------------------------------------------------------------------


def metadata(
    width: int = 0,
    height: int = 0,
    framerate: float = 0.0,
    video: bool = True,
    audio_format: int | None = AUDIO_FORMAT_AAC,
    audio_sample_rate: int = 0,
    stereo: bool = False,
    encoder: str = "wcs",
) -> dict[str, Any]:
    """The ``onMetaData`` properties players and CDNs look at."""
    meta: dict[str, Any] = {"duration": 0.0}
    if video:
        meta.update(videocodecid=float(VIDEO_CODEC_AVC))
        if width and height:
            meta.update(width=float(width), height=float(height))
        if framerate:
            meta["framerate"] = float(framerate)
    if audio_format is not None:
        meta.update(audiocodecid=float(audio_format), stereo=stereo, audiosamplesize=16.0)
        if audio_sample_rate:
            meta["audiosamplerate"] = float(audio_sample_rate)
    meta["encoder"] = encoder
    return meta


# -- timestamps ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Track:
    offset: int
    last_in: int | None = None
    last_out: int = 0


class MonotonicTimestamps:
    """Maps source timestamps (ms, one media clock shared by the tracks) to FLV timestamps
    that start at 0 and never go backwards.

    A source reset (new SSRC, re-INVITE, restarted feed) shows as a jump backwards by more
    than ``max_gap_ms``, or forwards to more than ``max_gap_ms`` beyond the newest
    timestamp written on any track: the track then continues just after that newest
    timestamp, so the output stays continuous. A forward gap that stays in line with the
    other tracks (audio silence suppression while video goes on) is kept as a gap. Small
    backwards steps (reordering) are clamped to the track's last output.
    """

    def __init__(self, max_gap_ms: int = 3000, reset_step_ms: int = 1) -> None:
        self.max_gap_ms = max_gap_ms
        self.reset_step_ms = reset_step_ms
        self.resets = 0
        self._base: int | None = None
        self._tracks: dict[str, _Track] = {}
        self._newest = 0

    def map(self, track: str, ts_ms: int) -> int:
        if self._base is None:
            self._base = -ts_ms
        state = self._tracks.get(track)
        if state is None:
            state = self._tracks[track] = _Track(self._base)
        elif state.last_in is not None:
            step = ts_ms - state.last_in
            ahead = ts_ms + state.offset - self._newest
            if step < -self.max_gap_ms or (step > self.max_gap_ms and ahead > self.max_gap_ms):
                self.resets += 1
                state.offset = self._newest + self.reset_step_ms - ts_ms
        state.last_in = ts_ms
        out = max(ts_ms + state.offset, state.last_out, 0)
        state.last_out = out
        self._newest = max(self._newest, out)
        return out


@dataclass(order=True, slots=True)
class _Pending:
    ts: int
    seq: int
    track: str = field(compare=False)
    item: Any = field(compare=False)


class Interleaver:
    """Emits items of several tracks in timestamp order, holding each up to ``window_ms``
    behind the newest timestamp seen. Output timestamps never decrease: an item that arrives
    later than the window allows is sent with the last emitted timestamp."""

    def __init__(self, window_ms: int = 100) -> None:
        self.window_ms = window_ms
        self.late = 0
        self._heap: list[_Pending] = []
        self._seq = 0
        self._newest = 0
        self._last_out = 0

    def push(self, track: str, ts_ms: int, item: Any) -> list[tuple[int, str, Any]]:
        self._seq += 1
        heapq.heappush(self._heap, _Pending(ts_ms, self._seq, track, item))
        self._newest = max(self._newest, ts_ms)
        return self._release(self._newest - self.window_ms)

    def flush(self) -> list[tuple[int, str, Any]]:
        return self._release(None)

    def _release(self, upto: int | None) -> list[tuple[int, str, Any]]:
        out: list[tuple[int, str, Any]] = []
        heap = self._heap
        while heap and (upto is None or heap[0].ts <= upto):
            p = heapq.heappop(heap)
            ts = p.ts
            if ts < self._last_out:
                self.late += 1
                ts = self._last_out
            self._last_out = ts
            out.append((ts, p.track, p.item))
        return out
