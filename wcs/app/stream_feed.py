"""From a call's RTP sessions into its stream: the media clock, and generated tracks.

:class:`StreamFeed` is the :class:`wcs.rtp.session.MediaSink` of every m-line of a call.
Before the stream is published (early media with ``publish_early_media`` off) packets and
frames go nowhere, but the sessions still count them.

Generated tracks (setting ``generate_av``): a call without video (audio-only callee) can get
black video, one without audio silence. They start only once real media has begun (WCS
known issue 2: a generator running before the real media makes sinks lock onto the wrong
timing), and run on the same media clock.
"""

from __future__ import annotations

from typing import Protocol

from wcs.app.streams import TrackInfo
from wcs.media.audio import AudioFrame
from wcs.media.clock import MediaClock
from wcs.media.generators import BlackVideo, Silence
from wcs.media.h264 import AccessUnit, H264Packetizer
from wcs.rtp.packet import pack_header
from wcs.rtp.sr import SenderClock

GENERATED_VIDEO_PT = 102
GENERATED_AUDIO_PT = 0


class StreamSink(Protocol):
    """What the feed needs of the published stream (``wcs.app.media.outlet`` provides it)."""

    def feed_rtp(self, kind: str, packet: bytes, timestamp: int) -> None: ...
    def feed_video(self, au: AccessUnit, pts_ms: float) -> None: ...
    def feed_audio(self, frame: AudioFrame, pts_ms: float) -> None: ...


class StreamFeed:
    def __init__(self, start: float, generate: str = "none", ssrc_seed: int = 0) -> None:
        self.clock = MediaClock(start)
        self.stream: StreamSink | None = None
        self.generate = generate
        self.media_started: float | None = None
        self.real_kinds: set[str] = set()
        self._black: BlackVideo | None = None
        self._silence: Silence | None = None
        self._next_black: float | None = None
        self._next_silence: float | None = None
        self._packetizer = H264Packetizer(mtu=1200)
        self._gen_ssrc = (ssrc_seed ^ 0x5EED) & 0xFFFFFFFF
        self._gen_seq = {"video": 0, "audio": 0}
        self._sender_clocks: dict[str, SenderClock] = {}

    # ------------------------------------------------------------------ MediaSink
    def on_rtp(self, kind: str, packet: bytes, timestamp: int) -> None:
        stream = self.stream
        if stream is not None:
            stream.feed_rtp(kind, packet, timestamp)

    def on_video(self, au: AccessUnit, arrival: float) -> None:
        pts = self.clock.pts("video", au.timestamp, arrival, 90000)
        if self.media_started is None:
            self.media_started = arrival
        if self.stream is not None:
            self.stream.feed_video(au, pts)

    def on_audio(self, frame: AudioFrame, arrival: float) -> None:
        pts = self.clock.pts("audio", frame.timestamp, arrival, frame.clock_rate)
        if self.media_started is None:
            self.media_started = arrival
        if self.stream is not None:
            self.stream.feed_audio(frame, pts)

    def on_rebase(self, kind: str, timestamp: int, arrival: float) -> None:
        self.clock.rebase(kind, timestamp, arrival)
        self._sender_clocks.pop(kind, None)

    def on_sender_clock(self, kind: str, clock: SenderClock) -> None:
        """An SR arrived for the track's current source: align the tracks once both have one."""
        self._sender_clocks[kind] = clock
        self.clock.align(self._sender_clocks)

    # ------------------------------------------------------------------ generators
    def generated_tracks(self, real: set[str]) -> dict[str, TrackInfo]:
        """The tracks the generator will fill, given the real ones."""
        self.real_kinds = set(real)
        out: dict[str, TrackInfo] = {}
        if self.generate in ("video", "all") and "video" not in real:
            self._black = BlackVideo()
            sps, pps = self._black.parameter_sets()
            from wcs.media.h264.sps import parse_sps

            info = parse_sps(sps)
            out["video"] = TrackInfo(
                "video",
                "H264",
                90000,
                1,
                "packetization-mode=1;profile-level-id=42c00b",
                GENERATED_VIDEO_PT,
                sps,
                pps,
                info.width,
                info.height,
                generated=True,
            )
        if self.generate in ("audio", "all") and "audio" not in real:
            self._silence = Silence()
            out["audio"] = TrackInfo(
                "audio", "PCMU", 8000, 1, None, GENERATED_AUDIO_PT, generated=True
            )
        return out

    def get_timer(self) -> float | None:
        if self.media_started is None or self.stream is None:
            return None
        if self._black is None and self._silence is None:
            return None  # no generator (the usual case): asked after every receive batch
        if self._black is not None and self._next_black is None:
            self._next_black = self.media_started
        if self._silence is not None and self._next_silence is None:
            self._next_silence = self.media_started
        times = [t for t in (self._next_black, self._next_silence) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        stream = self.stream
        if stream is None or self.media_started is None:
            return
        black = self._black
        if black is not None and self._next_black is not None and now >= self._next_black:
            au = black.next()
            pts = self.clock.pts("video", au.timestamp, now, 90000)
            payloads = self._packetizer.packetize(au.nals)
            for i, payload in enumerate(payloads):
                last = i == len(payloads) - 1
                stream.feed_rtp(
                    "video", self._rtp("video", payload, au.timestamp, last), au.timestamp
                )
            stream.feed_video(au, pts)
            self._next_black = max(self._next_black + black.interval, now - 1.0)
        silence = self._silence
        if silence is not None and self._next_silence is not None and now >= self._next_silence:
            frame = silence.next()
            pts = self.clock.pts("audio", frame.timestamp, now, 8000)
            stream.feed_rtp(
                "audio", self._rtp("audio", frame.payload, frame.timestamp, False), frame.timestamp
            )
            stream.feed_audio(frame, pts)
            self._next_silence = max(self._next_silence + silence.interval, now - 1.0)

    def _rtp(self, kind: str, payload: bytes, ts: int, marker: bool) -> bytes:
        seq = self._gen_seq[kind]
        self._gen_seq[kind] = (seq + 1) & 0xFFFF
        pt = GENERATED_VIDEO_PT if kind == "video" else GENERATED_AUDIO_PT
        ssrc = self._gen_ssrc + (1 if kind == "video" else 0)
        return pack_header(pt, seq, ts, ssrc, marker) + payload
