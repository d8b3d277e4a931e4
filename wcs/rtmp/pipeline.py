"""One push's media conversion (sans-IO): stream frames → FLV tags.

Input is what a frame sink gets from the stream hub: H.264 access units (NAL unit lists)
and audio frames (PCMU, PCMA or Opus payloads), each with a pts in ms on the stream's
shared media clock. Output is :class:`FlvTag` lists from :class:`PushMuxer`.

Audio decisions: G.711 goes to AAC (or passes through as FLV sound format 7/8 when
``g711_passthrough`` is on); Opus is decoded with PyAV to 48 kHz mono PCM and encoded to AAC
(RTMP has no Opus). With ``shared_asc`` the AAC comes from the stream's shared AAC stage
(:mod:`wcs.app.aac_stage`, fed through :meth:`PushPipeline.aac`): the push encodes nothing
itself unless a sound is on (the sound is this push's own, so it is encoded here).
Muted pushes send AAC silence of the same length, so the audio track
and its timing stay (a target that lost audio would stall players). Other codecs
(telephone-event, unknown) are ignored. With a sound on (``/push/sound_on``), each call
audio frame is replaced by as many samples of the sound at the same rate (G.711 encoded
again in pass-through), so the timing is the call's; mute still wins.

Start: with both tracks, the push starts at the first keyframe and audio before it is
dropped; video from the keyframe on is held until the first audio, then sent interleaved
with AAC silence from the keyframe up to that audio (a late joiner gets the stream's GOP
since the last keyframe at once, seconds older than the live audio). So the tracks start
together. Either track waits at most 3 s (media time) for the other.

Everything here may run in a worker thread (:mod:`wcs.rtmp.worker`): AAC encoding costs
~0.2 ms per 20 ms frame of real speech, too much to do on the event loop for many pushes.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av

from wcs.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from wcs.media.sound import SoundCursor

from .aac import AacEncoder
from .muxer import AudioMode, FlvTag, PushMuxer

OPUS_RATE = 48000
VIDEO_WAIT_MS = 3000  # audio waits this long (in media time) for the first keyframe
AUDIO_WAIT_MS = 3000  # video from a keyframe on is held this long for the first audio
_NAL_IDR = 5
_G711_SILENCE = {"PCMU": 0xFF, "PCMA": 0xD5}


AAC_FRAME_MS = 1024 * 1000 / 48000  # one frame of the shared stage's 48 kHz AAC


def silent_aac_frame() -> bytes:
    """A steady-state AAC frame of silence (what a muted push sends in place of the
    shared stage's frames), from the same encoder settings as the stage."""
    encoder = AacEncoder(48000)
    frames = encoder.encode(bytes(2 * 1024 * 4), 0)
    return frames[-1].data


class OpusDecoder:
    """Opus packets → 16-bit mono PCM at ``rate`` (48 kHz by default; PyAV/libopus)."""

    def __init__(self, rate: int = OPUS_RATE) -> None:
        self._codec = av.CodecContext.create("opus", "r")
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
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
        shared_asc: bytes | None = None,
    ) -> None:
        self.video_enabled = video
        self.audio_enabled = audio_codec is not None
        self.muted = muted  # read per frame: mute/unmute take effect at once
        self.sound: SoundCursor | None = None  # likewise: sound_on/sound_off
        # Pass-through only for a G.711 source; the format is fixed for the push's life
        # (FLV players do not expect the sound format to change mid-stream).
        self._mode: AudioMode = "none"
        if audio_codec is not None:
            g711 = audio_codec.upper() in _G711_SILENCE
            self._mode = "g711" if g711 and g711_passthrough else "aac"
        self.muxer = PushMuxer(video=video, audio=self._mode, framerate=framerate)
        self._opus: OpusDecoder | None = None
        self.ignored_audio = 0
        self.audio_before_video = 0
        self._first_audio: int | None = None
        self._held: list[tuple[int, list[bytes]]] = []
        self._audio_started = False
        self.lead_silence_ms = 0
        # AAC from the stream's shared stage (``aac()``): the call audio is not encoded
        # here, except while a sound replaces it (the sound is this push's own).
        self.shared_asc = shared_asc if self._mode == "aac" else None
        self._silent_aac = silent_aac_frame() if self.shared_asc is not None else b""

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
        ts = round(pts_ms)
        if self._audio_started or not self.audio_enabled:
            return self.muxer.video(ts, nals)
        # Audio has not started: hold the video from its first keyframe on, so the push can
        # start both tracks together when the first audio comes.
        # (The hub's keyframes carry their SPS/PPS, so holding starts at an IDR.)
        if not self._held and not any(n and n[0] & 0x1F == _NAL_IDR for n in nals):
            self.muxer.dropped_before_keyframe += 1
            return []
        self._held.append((ts, nals))
        if ts - self._held[0][0] > AUDIO_WAIT_MS:  # no audio after all: video goes alone
            self._audio_started = True
            return self._release(None, "", 0)
        return []

    def audio(self, pts_ms: float, codec: str, payload: bytes) -> list[FlvTag]:
        if not self.audio_enabled or not payload:
            return []
        if self.shared_asc is not None and self.sound is None:
            return []  # the shared stage brings this audio as AAC (``aac``)
        ts = round(pts_ms)
        out = self._start_audio(ts, codec)
        return [] if out is None else out + self._convert(ts, codec, payload)

    def aac(self, pts_ms: float, frame: bytes) -> list[FlvTag]:
        """One AAC frame of the stream's shared stage (used unless a sound is on)."""
        asc = self.shared_asc
        if asc is None or self.sound is not None or not frame:
            return []
        ts = round(pts_ms)
        out = self._start_audio(ts, "aac")
        if out is None:
            return []
        return out + self.muxer.audio_aac(ts, self._silent_aac if self.muted else frame, asc)

    def _start_audio(self, ts: int, codec: str) -> list[FlvTag] | None:
        """Before the first audio goes out: None (drop it) or the held video to send first."""
        if self._first_audio is None:
            self._first_audio = ts
        out: list[FlvTag] = []
        if not self._audio_started and self.video_enabled:
            if not self._held:
                # No keyframe yet: the push starts at the first one, so this audio is
                # dropped (for at most VIDEO_WAIT_MS: without video, audio goes alone).
                if ts - self._first_audio < VIDEO_WAIT_MS:
                    self.audio_before_video += 1
                    return None
                self._audio_started = True
            else:
                self._audio_started = True
                out = self._release(ts, codec, ts)
        return out

    def _release(self, audio_ts: int | None, codec: str, until: int) -> list[FlvTag]:
        """The held video, interleaved with silence blocks (20 ms, or one AAC frame) from
        the first held frame up to ``until`` (the first audio's pts; none when ``audio_ts``
        is None)."""
        held, self._held = self._held, []
        out: list[FlvTag] = []
        step = AAC_FRAME_MS if codec == "aac" else 20.0
        t = float(held[0][0] if held else until)
        for ts, nals in held:
            while audio_ts is not None and t + step <= min(ts, until):
                out += self._silence(round(t), codec)
                t += step
            out += self.muxer.video(ts, nals)
        while audio_ts is not None and t + step <= until:
            out += self._silence(round(t), codec)
            t += step
        return out

    def _silence(self, ts: int, codec: str) -> list[FlvTag]:
        if codec == "aac" and self.shared_asc is not None:
            self.lead_silence_ms += round(AAC_FRAME_MS)
            return self.muxer.audio_aac(ts, self._silent_aac, self.shared_asc)
        self.lead_silence_ms += 20
        if self._mode == "g711" and codec in _G711_SILENCE:
            return self.muxer.audio_g711(ts, bytes([_G711_SILENCE[codec]]) * 160, codec == "PCMA")
        if codec.lower() == "opus":
            return (
                self.muxer.audio_pcm(ts, bytes(2 * 960), OPUS_RATE) if self._mode == "aac" else []
            )
        return self.muxer.audio_pcm(ts, bytes(2 * 160), 8000)

    def _convert(self, ts: int, codec: str, payload: bytes) -> list[FlvTag]:
        """One audio payload → tags."""
        if codec in _G711_SILENCE:
            alaw = codec == "PCMA"
            if self._mode == "g711":
                sound = self._sound(len(payload), 8000)
                if sound is not None:
                    payload = alaw_encode(sound) if alaw else ulaw_encode(sound)
                if self.muted:
                    payload = bytes([_G711_SILENCE[codec]]) * len(payload)
                return self.muxer.audio_g711(ts, payload, alaw)
            pcm = alaw_decode(payload) if alaw else ulaw_decode(payload)
            pcm = self._sound(len(pcm) // 2, 8000) or pcm
            return self.muxer.audio_pcm(ts, self._mute(pcm), 8000)
        if codec.lower() == "opus":
            if self._mode != "aac":
                self.ignored_audio += 1
                return []
            if self._opus is None:
                self._opus = OpusDecoder()
            pcm = self._opus.decode(payload)
            if pcm:
                pcm = self._sound(len(pcm) // 2, OPUS_RATE) or pcm
            return self.muxer.audio_pcm(ts, self._mute(pcm), OPUS_RATE) if pcm else []
        self.ignored_audio += 1
        return []

    def flush(self) -> list[FlvTag]:
        return self.muxer.flush()

    def _sound(self, samples: int, rate: int) -> bytes | None:
        """The sound's next ``samples`` in place of the call's; None: the call's audio."""
        sound = self.sound
        return sound.take(samples, rate) if sound is not None else None

    def _mute(self, pcm: bytes) -> bytes:
        return bytes(len(pcm)) if self.muted else pcm

    def stats(self) -> dict[str, Any]:
        return {
            "droppedBeforeKeyframe": self.muxer.dropped_before_keyframe,
            "ignoredAudio": self.ignored_audio,
            "audioBeforeVideo": self.audio_before_video,
            "leadSilenceMs": self.lead_silence_ms,
            "opusErrors": self._opus.errors if self._opus else 0,
        }
