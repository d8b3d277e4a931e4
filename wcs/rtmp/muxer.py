"""Media frames of a stream → the FLV tags an RTMP push sends (sans-IO).

Input is what a frame sink gets: H.264 access units as NAL unit lists, G.711 payloads or
16-bit PCM, each with a timestamp in ms on the stream's shared media clock. Output is
:class:`FlvTag` lists in timestamp order, ready for ``RtmpPublisher.send_tag``:

* video waits for a keyframe with known SPS/PPS (``needs_keyframe`` tells the caller to
  ask the source for one); the AVC sequence header goes out before the first frame and
  again whenever SPS/PPS change; SPS/PPS/AUD NAL units are not repeated in frames;
* audio is AAC (G.711 or PCM encoded with :class:`AacEncoder`, its sequence header first)
  or G.711 passed through (``audio="g711"``), or dropped (``audio="none"``);
* ``onMetaData`` goes first, once the picture size is known (or at the first audio frame
  of an audio-only stream);
* timestamps are made monotonic (:class:`MonotonicTimestamps`) and the tracks interleaved
  (:class:`Interleaver`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from wcs.media.g711 import alaw_decode, ulaw_decode
from wcs.media.h264.sps import parse_sps

from . import amf0, flv
from .aac import AacEncoder, AacFrame
from .errors import RtmpError

TagKind = Literal["video", "audio", "data"]
AudioMode = Literal["aac", "g711", "none"]


@dataclass(frozen=True, slots=True)
class FlvTag:
    kind: TagKind
    timestamp_ms: int
    body: bytes
    keyframe: bool = False
    config: bool = False  # sequence headers and metadata: never dropped


_NAL_SPS, _NAL_PPS, _NAL_AUD, _NAL_IDR = 7, 8, 9, 5


class PushMuxer:
    def __init__(
        self,
        video: bool = True,
        audio: AudioMode = "aac",
        aac_rate: int = 48000,
        framerate: float = 0.0,
        window_ms: int = 250,  # covers the AAC encoder's delay and audio/video jitter
        g711_alaw: bool = False,
    ) -> None:
        self.video_enabled = video
        self.audio_mode = audio
        self.aac_rate = aac_rate
        self.framerate = framerate
        self.width = 0
        self.height = 0
        self.needs_keyframe = video
        self.dropped_before_keyframe = 0
        self._clock = flv.MonotonicTimestamps()
        self._interleaver = flv.Interleaver(window_ms)
        self._sps = b""
        self._pps = b""
        self._sent_config: tuple[bytes, bytes] | None = None
        self._metadata_sent = False
        self._aac: AacEncoder | None = None
        self._asc_sent: bytes | None = None
        self._g711_alaw = g711_alaw  # for the metadata of a pass-through stream

    # -- video -----------------------------------------------------------------------------

    def video(self, timestamp_ms: int, nalus: list[bytes]) -> list[FlvTag]:
        if not self.video_enabled:
            return []
        keyframe = False
        slices: list[bytes] = []
        for nal in nalus:
            if not nal:
                continue
            kind = nal[0] & 0x1F
            if kind == _NAL_SPS:
                self._sps = nal
            elif kind == _NAL_PPS:
                self._pps = nal
            elif kind != _NAL_AUD:
                slices.append(nal)
                keyframe = keyframe or kind == _NAL_IDR
        if not slices:
            return []
        if self._sent_config is None and not (keyframe and self._sps and self._pps):
            self.dropped_before_keyframe += 1
            return []
        ts = self._clock.map("video", timestamp_ms)
        out: list[FlvTag] = []
        if keyframe and (self._sps, self._pps) != self._sent_config:
            try:
                info = parse_sps(self._sps)
                self.width, self.height = info.width, info.height
            except ValueError:  # an SPS we cannot read: the size stays unknown in metadata
                pass
            out += self._metadata_once(ts)
            out.append(
                FlvTag(
                    "video",
                    ts,
                    flv.video_sequence_header(self._sps, self._pps),
                    keyframe=True,
                    config=True,
                )
            )
            self._sent_config = (self._sps, self._pps)
            self.needs_keyframe = False
        tag = FlvTag("video", ts, flv.video_frame(flv.avcc(slices), keyframe), keyframe)
        return self._order(out, tag)

    # -- audio -----------------------------------------------------------------------------

    def audio_g711(self, timestamp_ms: int, payload: bytes, alaw: bool) -> list[FlvTag]:
        if self.audio_mode == "none" or not payload:
            return []
        if self.audio_mode == "g711":
            self._g711_alaw = alaw
            ts = self._clock.map("audio", timestamp_ms)
            out = self._metadata_once(ts) if not self.video_enabled else []
            return self._order(out, FlvTag("audio", ts, flv.audio_g711(payload, alaw)))
        pcm = alaw_decode(payload) if alaw else ulaw_decode(payload)
        return self.audio_pcm(timestamp_ms, pcm, 8000)

    def audio_pcm(self, timestamp_ms: int, pcm_s16le: bytes, rate: int) -> list[FlvTag]:
        """16-bit mono PCM (decoded Opus at 48 kHz, G.711 at 8 kHz) → AAC."""
        if self.audio_mode == "none":
            return []
        if self.audio_mode == "g711":
            raise RtmpError("PCM input needs audio='aac'")
        out: list[FlvTag] = []
        if self._aac is None or self._aac.input_rate != rate:
            if self._aac is not None:
                out += self._aac_tags(self._aac.flush())
            self._aac = AacEncoder(rate, self.aac_rate)
        out += self._aac_config(timestamp_ms, self._aac.audio_specific_config)
        out += self._aac_tags(self._aac.encode(pcm_s16le, timestamp_ms))
        return out

    def audio_aac(self, timestamp_ms: int, frame: bytes, asc: bytes) -> list[FlvTag]:
        """One raw AAC frame encoded elsewhere (the stream's shared AAC stage)."""
        if self.audio_mode != "aac":
            return []
        out = self._aac_config(timestamp_ms, asc)
        return out + self._aac_tags([AacFrame(timestamp_ms, frame)])

    def _aac_config(self, timestamp_ms: int, asc: bytes) -> list[FlvTag]:
        """The AAC sequence header, when the config is new (first frame, another encoder
        with another config); the same config from another encoder needs none."""
        if asc == self._asc_sent:
            return []
        self._asc_sent = asc
        ts = self._clock.map("audio", timestamp_ms)
        out = self._metadata_once(ts) if not self.video_enabled else []
        config = flv.audio_aac_sequence_header(asc)
        return out + self._push(FlvTag("audio", ts, config, config=True))

    def flush(self) -> list[FlvTag]:
        out: list[FlvTag] = []
        if self._aac is not None:
            out += self._aac_tags(self._aac.flush())
        return out + self._retime(self._interleaver.flush())

    # -- internals -------------------------------------------------------------------------

    def _aac_tags(self, frames: list[AacFrame]) -> list[FlvTag]:
        out: list[FlvTag] = []
        for frame in frames:
            ts = self._clock.map("audio", frame.timestamp_ms)
            out += self._push(FlvTag("audio", ts, flv.audio_aac_frame(frame.data)))
        return out

    def _push(self, tag: FlvTag) -> list[FlvTag]:
        return self._retime(self._interleaver.push(tag.kind, tag.timestamp_ms, tag))

    def _metadata_once(self, ts: int) -> list[FlvTag]:
        if self._metadata_sent:
            return []
        self._metadata_sent = True
        if self.audio_mode == "aac":
            afmt: int | None = flv.AUDIO_FORMAT_AAC
            rate = self.aac_rate
        elif self.audio_mode == "g711":
            afmt = flv.AUDIO_FORMAT_G711A if self._g711_alaw else flv.AUDIO_FORMAT_G711U
            rate = 8000
        else:
            afmt, rate = None, 0
        meta = flv.metadata(self.width, self.height, self.framerate, self.video_enabled, afmt, rate)
        body = amf0.encode("@setDataFrame", "onMetaData", amf0.EcmaArray(meta))
        return [FlvTag("data", ts, body, config=True)]

    def _order(self, config: list[FlvTag], tag: FlvTag) -> list[FlvTag]:
        out: list[FlvTag] = []
        for item in config:
            out += self._push(item)
        return out + self._push(tag)

    @staticmethod
    def _retime(released: list[tuple[int, str, Any]]) -> list[FlvTag]:
        out: list[FlvTag] = []
        for ts, _track, item in released:
            assert isinstance(item, FlvTag)
            out.append(
                item
                if item.timestamp_ms == ts
                else FlvTag(item.kind, ts, item.body, item.keyframe, item.config)
            )
        return out
