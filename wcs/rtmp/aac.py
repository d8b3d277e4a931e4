"""PCM → AAC-LC for RTMP with PyAV (once per stream, never per viewer).

Input: signed 16-bit little-endian mono PCM at any rate (8 kHz from G.711, 48 kHz from
Opus), with the source timestamp (ms) of each block. Output: raw AAC frames (no ADTS) with
millisecond timestamps, and the AudioSpecificConfig for the FLV sequence header.

Output rate decision: 48 kHz by default, whatever the input. AAC at 8 kHz is legal and
nginx-rtmp/ffprobe take it, but CDNs (YouTube, Facebook, Twitch) document 44.1/48 kHz
only, and 48 kHz is an integer multiple of 8 kHz and equal to Opus' rate, so the resampler
does the least work. ``output_rate`` can be set to any AAC rate.

Timestamp bookkeeping: input samples are counted (pts in samples), the first block's
timestamp anchors the count, and each packet's timestamp is anchor + pts/rate. The encoder
priming packet therefore sits ~21 ms before the anchor (clamped at 0), which keeps decoded
audio aligned with its source. A gap up to ``max_fill_ms`` in the input timestamps is
filled with silence; a larger gap or a step back re-anchors the clock from that sample on
(samples still inside the resampler/encoder keep the old anchor).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from .errors import RtmpError
from .flv import AAC_SAMPLE_RATES, aac_audio_specific_config

DEFAULT_OUTPUT_RATE = 48000
DEFAULT_BITRATE = 64000


@dataclass(frozen=True, slots=True)
class AacFrame:
    timestamp_ms: int
    data: bytes


class AacEncoder:
    def __init__(
        self,
        input_rate: int,
        output_rate: int = DEFAULT_OUTPUT_RATE,
        bitrate: int = DEFAULT_BITRATE,
        max_fill_ms: int = 1000,
        tolerance_ms: int = 60,
    ) -> None:
        if output_rate not in AAC_SAMPLE_RATES:
            raise RtmpError(f"AAC cannot run at {output_rate} Hz")
        if input_rate <= 0:
            raise RtmpError(f"bad input sample rate {input_rate}")
        self.input_rate = input_rate
        self.output_rate = output_rate
        self.max_fill_ms = max_fill_ms
        self.tolerance_ms = tolerance_ms
        codec = av.CodecContext.create("aac", "w")
        codec.sample_rate = output_rate
        codec.layout = "mono"
        codec.format = "fltp"
        codec.bit_rate = bitrate
        codec.time_base = Fraction(1, output_rate)
        codec.open()
        self._codec = codec
        self._resampler = av.AudioResampler(
            format="fltp", layout="mono", rate=output_rate, frame_size=codec.frame_size
        )
        extradata = codec.extradata
        # FFmpeg's encoder gives the AudioSpecificConfig as extradata; build one if not.
        self.audio_specific_config = (
            bytes(extradata) if extradata else aac_audio_specific_config(output_rate, 1)
        )
        self._anchor_ms: int | None = None
        # (first output pts, anchor) per clock segment, so buffered samples keep theirs.
        self._segments: list[tuple[int, int]] = []
        self._in_samples = 0  # input samples consumed, silence fill included
        self.filled_ms = 0
        self.reanchors = 0

    def _expected_ms(self) -> float:
        assert self._anchor_ms is not None
        return self._anchor_ms + self._in_samples * 1000 / self.input_rate

    def encode(self, pcm_s16le: bytes, timestamp_ms: int) -> list[AacFrame]:
        """Feed one block of PCM; returns the AAC frames completed so far."""
        if len(pcm_s16le) % 2:
            raise RtmpError("PCM block has an odd number of bytes")
        out: list[AacFrame] = []
        if self._anchor_ms is None:
            self._anchor_ms = timestamp_ms
            self._segments.append((0, timestamp_ms))
        else:
            drift = timestamp_ms - self._expected_ms()
            if self.tolerance_ms < drift <= self.max_fill_ms:
                fill = int(drift * self.input_rate / 1000)
                self.filled_ms += int(drift)
                out += self._feed(bytes(2 * fill))
            elif abs(drift) > self.tolerance_ms:
                self.reanchors += 1
                self._anchor_ms += round(drift)
                first_pts = self._in_samples * self.output_rate // self.input_rate
                self._segments.append((first_pts, self._anchor_ms))
        out += self._feed(pcm_s16le)
        return out

    def flush(self) -> list[AacFrame]:
        """Drain the resampler and the encoder (end of stream)."""
        out: list[AacFrame] = []
        for frame in self._resampler.resample(None):
            out += self._packets(self._codec.encode(frame))
        out += self._packets(self._codec.encode(None))
        return out

    def _feed(self, pcm: bytes) -> list[AacFrame]:
        samples = len(pcm) // 2
        if not samples:
            return []
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        frame.planes[0].update(pcm)
        frame.sample_rate = self.input_rate
        frame.time_base = Fraction(1, self.input_rate)
        frame.pts = self._in_samples
        self._in_samples += samples
        out: list[AacFrame] = []
        for resampled in self._resampler.resample(frame):
            out += self._packets(self._codec.encode(resampled))
        return out

    def _packets(self, packets: list[av.Packet[Any]]) -> list[AacFrame]:
        out = []
        for packet in packets:
            pts = packet.pts if packet.pts is not None else 0
            while len(self._segments) > 1 and self._segments[1][0] <= pts:
                self._segments.pop(0)  # packets come in pts order: older segments are done
            anchor = self._segments[0][1] if self._segments else 0
            ts = max(0, anchor + round(pts * 1000 / self.output_rate))
            out.append(AacFrame(ts, bytes(packet)))
        return out
