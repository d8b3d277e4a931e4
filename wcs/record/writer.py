"""One record file written with PyAV. Runs in a recorder's worker thread, never on the loop.

Video: the access units are muxed as they are (Annex-B; the muxer turns them into
length-prefixed samples and builds ``avcC`` from the first one's SPS/PPS, hence
``delay_moov``). Audio: AAC frames of the stream's shared AAC stage are muxed as they are
(``codec == "aac"``); otherwise G.711 is decoded by table and Opus by PyAV, then encoded to
AAC by :class:`wcs.rtmp.aac.AacEncoder` (one encoder per file), or Opus is passed through
into Matroska/WebM.

Crash safety: MP4 is fragmented (``empty_moov``, a fragment at every keyframe and at least
every ``FRAGMENT_MS``) and every fragment is flushed to the file, so a killed process leaves a
file that plays up to its last fragment; Matroska clusters are cut and flushed at the same
period. ``close()`` finalizes (MP4: the ``mfra`` index, Matroska: cues and duration).

Timestamps are milliseconds relative to the file's start on the stream's media clock; each
track is kept strictly increasing (a muxer refuses anything else) but never shifted, so a gap
(hold) stays a gap and audio and video stay in sync across it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from wcs.media.audio import alaw_decode, opus_duration, ulaw_decode
from wcs.rtmp.aac import AacEncoder, AacFrame

from .container import ContainerPlan

log = logging.getLogger(__name__)

FRAGMENT_MS = 1000
# The muxer holds one track's packets back until the other catches up; when a track pauses
# (hold, video stopped) that would keep up to 10 s (FFmpeg's default) out of the file.
MAX_INTERLEAVE_MS = 2000
VIDEO_TB = Fraction(1, 90000)
AAC_RATE = 48000
AUDIO_TB = Fraction(1, AAC_RATE)


@dataclass(frozen=True, slots=True)
class FileSpec:
    path: Path
    plan: ContainerPlan
    start_ms: float  # the stream pts of the file's time zero
    source_audio: str | None  # "PCMU", "PCMA", "opus"
    width: int = 0
    height: int = 0
    title: str = ""


def _options(plan: ContainerPlan) -> dict[str, str]:
    if plan.kind == "mp4":
        return {
            "movflags": "frag_keyframe+empty_moov+default_base_moof+delay_moov",
            "frag_duration": str(FRAGMENT_MS * 1000),
            "flush_packets": "1",
            "max_interleave_delta": str(MAX_INTERLEAVE_MS * 1000),
        }
    return {
        "cluster_time_limit": str(FRAGMENT_MS),
        "flush_packets": "1",
        "max_interleave_delta": str(MAX_INTERLEAVE_MS * 1000),
    }


class FileWriter:
    def __init__(self, spec: FileSpec) -> None:
        self.spec = spec
        plan = spec.plan
        self.path = spec.path
        self._out: Any = av.open(str(spec.path), "w", format=plan.format, options=_options(plan))
        self._out.metadata["comment"] = f"wcs start_ms={spec.start_ms:.3f}"
        if spec.title:
            self._out.metadata["title"] = spec.title
        self._video: Any = None
        self._audio: Any = None
        self._last = {"video": -1, "audio": -1}
        self._aac: AacEncoder | None = None
        self._opus_decoder: Any = None
        self._opus_resampler: Any = None
        if plan.video:
            self._video = self._out.add_mux_stream("h264", width=spec.width, height=spec.height)
        if plan.audio == "aac":
            # The stream's own (unused) encoder context gives the muxer the AudioSpecificConfig.
            self._audio = self._out.add_stream("aac", rate=AAC_RATE, layout="mono")
        elif plan.audio == "opus":
            codec = "libopus" if "libopus" in av.codecs_available else "opus"
            self._audio = self._out.add_stream(codec, rate=48000, layout="stereo")
        self.frames = {"video": 0, "audio": 0}

    # ------------------------------------------------------------------ media
    def video(self, annexb: bytes, rel_ms: float, keyframe: bool) -> None:
        if self._video is None:
            return
        self._mux(self._video, "video", annexb, round(rel_ms * 90), VIDEO_TB, keyframe)

    def audio(self, codec: str, payload: bytes, rel_ms: float) -> None:
        if self._audio is None or not payload:
            return
        if self.spec.plan.audio == "opus":
            if codec == "opus":
                pts = round(rel_ms * 48)
                self._mux(
                    self._audio,
                    "audio",
                    payload,
                    pts,
                    AUDIO_TB,
                    True,
                    duration=opus_duration(payload),
                )
            return
        if codec == "aac":  # encoded once for the stream by its shared AAC stage
            self._aac_packets([AacFrame(round(rel_ms), payload)])
        elif codec == "PCMU":
            self._aac_encode(ulaw_decode(payload), 8000, rel_ms)
        elif codec == "PCMA":
            self._aac_encode(alaw_decode(payload), 8000, rel_ms)
        elif codec == "opus":
            self._aac_encode(self._decode_opus(payload), 48000, rel_ms)

    def _decode_opus(self, payload: bytes) -> bytes:
        if self._opus_decoder is None:
            self._opus_decoder = av.CodecContext.create("opus", "r")
            self._opus_resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        out = bytearray()
        for frame in self._opus_decoder.decode(av.Packet(payload)):
            for mono in self._opus_resampler.resample(frame):
                out += bytes(mono.planes[0])[: mono.samples * 2]
        return bytes(out)

    def _aac_encode(self, pcm: bytes, rate: int, rel_ms: float) -> None:
        if not pcm:
            return
        if self._aac is None or self._aac.input_rate != rate:
            if self._aac is not None:
                self._aac_packets(self._aac.flush())
            self._aac = AacEncoder(rate, AAC_RATE)
        self._aac_packets(self._aac.encode(pcm, round(rel_ms)))

    def _aac_packets(self, frames: list[Any]) -> None:
        for f in frames:
            self._mux(
                self._audio, "audio", f.data, f.timestamp_ms * 48, AUDIO_TB, True, duration=1024
            )

    def _mux(
        self,
        stream: Any,
        kind: str,
        data: bytes,
        pts: int,
        tb: Fraction,
        key: bool,
        duration: int | None = None,
    ) -> None:
        pts = max(pts, self._last[kind] + 1, 0)
        self._last[kind] = pts
        packet = av.Packet(data)
        packet.stream = stream
        packet.pts = packet.dts = pts
        packet.time_base = tb
        packet.is_keyframe = key
        if duration is not None:
            packet.duration = duration
        self._out.mux(packet)
        self.frames[kind] += 1

    # ------------------------------------------------------------------ end
    def close(self) -> None:
        try:
            if self._aac is not None:
                self._aac_packets(self._aac.flush())
        finally:
            self._out.close()


__all__ = ["AAC_RATE", "FRAGMENT_MS", "FileSpec", "FileWriter"]
