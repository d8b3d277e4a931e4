"""One push's media conversion (sans-IO): stream frames → FLV tags.

Input is what a frame sink gets from the stream hub: H.264 access units (NAL unit lists)
and audio frames (PCMU, PCMA or Opus payloads), each with a pts in ms on the stream's
shared media clock. Output is :class:`FlvTag` lists from :class:`PushMuxer`.

Audio decisions: G.711 goes to AAC (or passes through as FLV sound format 7/8 when
``g711_passthrough`` is on); Opus is decoded with PyAV to 48 kHz mono PCM and encoded to AAC
(RTMP has no Opus). Muted pushes send AAC silence of the same length, so the audio track
and its timing stay (a target that lost audio would stall players). Other codecs
(telephone-event, unknown) are ignored.

Everything here may run in a worker thread (:mod:`wcs.rtmp.worker`): AAC encoding costs
~0.2 ms per 20 ms frame of real speech, too much to do on the event loop for many pushes.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av

from .g711 import alaw_to_s16le, ulaw_to_s16le
from .muxer import AudioMode, FlvTag, PushMuxer

OPUS_RATE = 48000
_G711_SILENCE = {"PCMU": 0xFF, "PCMA": 0xD5}


class OpusDecoder:
    """Opus packets → 16-bit mono PCM at 48 kHz (PyAV/libopus)."""

    def __init__(self) -> None:
        self._codec = av.CodecContext.create("opus", "r")
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=OPUS_RATE)
        self._pts = 0
        self.errors = 0

    def decode(self, payload: bytes) -> bytes:
        packet = av.Packet(payload)
        packet.pts = self._pts
        packet.time_base = Fraction(1, OPUS_RATE)
        try:
            frames = self._codec.decode(packet)
        except av.error.FFmpegError:  # a corrupt packet costs its 20 ms, not the push
            self.errors += 1
            return b""
        out = bytearray()
        for frame in frames:
            self._pts += frame.samples
            for mono in self._resampler.resample(frame):
                out += bytes(mono.planes[0])[: mono.samples * 2]
        return bytes(out)


class PushPipeline:
    def __init__(
        self,
        video: bool,
        audio_codec: str | None,
        g711_passthrough: bool = False,
        muted: bool = False,
        framerate: float = 0.0,
    ) -> None:
        self.video_enabled = video
        self.audio_enabled = audio_codec is not None
        self.muted = muted  # read per frame: mute/unmute take effect at once
        # Pass-through only for a G.711 source; the format is fixed for the push's life
        # (FLV players do not expect the sound format to change mid-stream).
        self._mode: AudioMode = "none"
        if audio_codec is not None:
            g711 = audio_codec.upper() in _G711_SILENCE
            self._mode = "g711" if g711 and g711_passthrough else "aac"
        self.muxer = PushMuxer(video=video, audio=self._mode, framerate=framerate)
        self._opus: OpusDecoder | None = None
        self.ignored_audio = 0

    @property
    def audio_mode(self) -> AudioMode:
        return self._mode

    @property
    def needs_keyframe(self) -> bool:
        return self.muxer.needs_keyframe

    @property
    def size(self) -> tuple[int, int]:
        return self.muxer.width, self.muxer.height

    def video(self, pts_ms: float, nals: list[bytes]) -> list[FlvTag]:
        return self.muxer.video(round(pts_ms), nals)

    def audio(self, pts_ms: float, codec: str, payload: bytes) -> list[FlvTag]:
        if not self.audio_enabled or not payload:
            return []
        ts = round(pts_ms)
        if codec in _G711_SILENCE:
            alaw = codec == "PCMA"
            if self._mode == "g711":
                if self.muted:
                    payload = bytes([_G711_SILENCE[codec]]) * len(payload)
                return self.muxer.audio_g711(ts, payload, alaw)
            pcm = alaw_to_s16le(payload) if alaw else ulaw_to_s16le(payload)
            return self.muxer.audio_pcm(ts, self._mute(pcm), 8000)
        if codec.lower() == "opus":
            if self._mode != "aac":
                self.ignored_audio += 1
                return []
            if self._opus is None:
                self._opus = OpusDecoder()
            pcm = self._opus.decode(payload)
            return self.muxer.audio_pcm(ts, self._mute(pcm), OPUS_RATE) if pcm else []
        self.ignored_audio += 1
        return []

    def flush(self) -> list[FlvTag]:
        return self.muxer.flush()

    def _mute(self, pcm: bytes) -> bytes:
        return bytes(len(pcm)) if self.muted else pcm

    def stats(self) -> dict[str, Any]:
        return {
            "droppedBeforeKeyframe": self.muxer.dropped_before_keyframe,
            "ignoredAudio": self.ignored_audio,
            "opusErrors": self._opus.errors if self._opus else 0,
        }
