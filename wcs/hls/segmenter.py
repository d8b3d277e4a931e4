"""Sans-IO LL-HLS segmenter: stream frames in, CMAF parts and segments out.

Input is what a frame sink of the stream hub gets: H.264 access units (NAL lists, the
keyframe ones carrying SPS/PPS) and AAC frames (raw, no ADTS, 1024 samples each), each with
a pts in ms on the stream's shared media clock. Nothing here reads a clock or a socket.

Timing: video is the driving track when present. A picture's duration is only known when
the next one arrives, so one picture is always pending; placing it decides the cuts. A
keyframe starts a new segment once the segment is within ``keyframe_lead`` of the target
(half the target at least), or at once when the segment does not start with one. Any
picture starts one when the segment would otherwise outgrow the playlist's TARGETDURATION
(that segment is not independent; a keyframe was asked for ``keyframe_lead`` before the
target). A picture starts a new part when the part would outgrow the part target. A
picture whose duration exceeds the part target (a gap in the source) is held for one part
target and the timeline keeps the hole, so parts never exceed PART-TARGET. Audio rides
along: on each part cut the audio frames before the cut go into that part. Audio-only
streams drive the cuts with their own frames (all sync samples).

Timestamps that step back (a new source after an SSRC change, a rebased clock) are moved
to continue the track, so media sequence numbers, part indexes and decode times stay
continuous. A change of SPS/PPS at a keyframe starts a segment with a new init segment and a
discontinuity.
"""

from __future__ import annotations

from collections import deque

from wcs.media.h264 import AccessUnit
from wcs.media.h264.nal import NAL_PPS, NAL_SPS

from .fmp4 import (
    AAC_FRAME_SAMPLES,
    AUDIO_TRACK_ID,
    VIDEO_TIMESCALE,
    VIDEO_TRACK_ID,
    AudioConfig,
    Sample,
    TrackRun,
    VideoConfig,
    avc_sample,
    init_segment,
    media_fragment,
)
from .model import (
    HlsEvent,
    HlsSettings,
    InitChanged,
    KeyframeWanted,
    Part,
    PartReady,
    Segment,
    SegmentReady,
    StreamEnded,
)

_DEFAULT_FRAME_TICKS = VIDEO_TIMESCALE // 25
_MAX_AUDIO_QUEUE = 500  # AAC frames (~10 s at 48 kHz) waiting for video to cut a part


class _Pending:
    __slots__ = ("au", "dts")

    def __init__(self, au: AccessUnit, dts: int) -> None:
        self.au = au
        self.dts = dts


class Segmenter:
    """One stream's segments. ``video``: the stream has a video track (its config comes
    from the first keyframe's SPS/PPS); ``audio``: the AAC track's config, or None."""

    def __init__(
        self,
        video: bool,
        audio: AudioConfig | None,
        settings: HlsSettings | None = None,
        first_number: int = 0,
    ) -> None:
        """``first_number``: the first media sequence number, and init id - 1. An edge gives
        each output of a stream name its own range, so a republished stream never reuses a
        URI that a cache may still hold (segments and init segments are immutable)."""
        if not video and audio is None:
            raise ValueError("a stream without tracks has nothing to segment")
        self.settings = settings or HlsSettings()
        self.has_video = video
        self.audio = audio
        self.video: VideoConfig | None = None
        self.inits: dict[int, bytes] = {}
        self.segments: deque[Segment] = deque()  # retained, oldest first; last may be open
        self.ended = False
        self.media_sequence = first_number  # msn of the first segment in the playlist window
        self.discontinuity_sequence = 0
        self.keyframe_requests = 0
        self.dropped_before_keyframe = 0
        self.dropped_audio = 0
        self._events: deque[HlsEvent] = deque()
        self._next_msn = first_number
        self._fragment_seq = 0
        self._init_id = first_number
        self._pending: _Pending | None = None
        self._last_video_ticks = _DEFAULT_FRAME_TICKS
        self._video_shift = 0  # ticks added to incoming video dts (steps back repaired)
        self._v_samples: list[Sample] = []
        self._v_start = 0
        self._a_queue: list[tuple[int, bytes]] = []  # (decode time, frame) not yet in a part
        self._a_next: int | None = None  # the next audio frame's decode time
        self._part_ticks = 0  # driving-track ticks in the open part
        self._seg_ticks = 0
        self._seg_start_ticks = 0
        self._asked = False
        self._awaiting_keyframe_asked = False

    # ------------------------------------------------------------------ input
    def push_video(self, au: AccessUnit, pts_ms: float) -> None:
        if self.ended or not self.has_video:
            return
        dts = round(pts_ms * 90) + self._video_shift
        pending = self._pending
        if pending is None:
            if not au.keyframe or not self._take_config(au, first=True):
                self.dropped_before_keyframe += 1
                if not self._awaiting_keyframe_asked:
                    self._awaiting_keyframe_asked = True
                    self._want_keyframe("no keyframe yet")
                return
            self._pending = _Pending(au, dts)
            return
        ticks = dts - pending.dts
        if ticks <= 0:  # a step back: continue the track one frame on
            self._video_shift += self._last_video_ticks - ticks
            dts = pending.dts + self._last_video_ticks
            ticks = self._last_video_ticks
        else:
            self._last_video_ticks = min(ticks, self._part_limit(VIDEO_TIMESCALE))
        self._place_video(pending, min(ticks, self._part_limit(VIDEO_TIMESCALE)))
        self._pending = _Pending(au, dts)

    def push_audio(self, aac: bytes, pts_ms: float) -> None:
        audio = self.audio
        if self.ended or audio is None or not aac:
            return
        actual = round(pts_ms * audio.sample_rate / 1000)
        expected = self._a_next
        # On time, jitter or a step back: the run stays continuous. A gap forward: the
        # frame keeps its time and the frame before it is held longer (in the same part).
        dt = actual if expected is None or actual - expected > AAC_FRAME_SAMPLES else expected
        self._a_queue.append((dt, aac))
        self._a_next = dt + AAC_FRAME_SAMPLES
        if len(self._a_queue) > _MAX_AUDIO_QUEUE:  # video stalled: keep the newest audio
            del self._a_queue[0]
            self.dropped_audio += 1
        if not self.has_video:
            self._drive_audio()

    def end(self) -> None:
        """The stream ended: flush what is held, close the last segment, announce the end."""
        if self.ended:
            return
        if self._pending is not None:
            self._place_video(self._pending, self._last_video_ticks)
            self._pending = None
        if self._open_segment() is not None and (self._v_samples or self._a_queue):
            self._close_part(final=True)
        seg = self._open_segment()
        if seg is not None:
            if seg.parts:
                self._complete_segment(seg)
            else:
                self.segments.pop()
        self.ended = True
        self._events.append(StreamEnded(self._next_msn - 1))

    # ------------------------------------------------------------------ sans-IO output
    def next_event(self) -> HlsEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    # ------------------------------------------------------------------ lookups
    def segment(self, msn: int) -> Segment | None:
        for seg in self.segments:
            if seg.msn == msn:
                return seg
        return None

    def segment_data(self, msn: int) -> bytes | None:
        seg = self.segment(msn)
        return seg.data if seg is not None and seg.complete else None

    def part_data(self, msn: int, index: int) -> bytes | None:
        seg = self.segment(msn)
        if seg is None or not 0 <= index < len(seg.parts):
            return None
        return seg.parts[index].data

    def next_part(self) -> tuple[int, int] | None:
        """(msn, index) of the part being filled: the EXT-X-PRELOAD-HINT."""
        if self.ended:
            return None
        seg = self._open_segment()
        if seg is not None:
            return seg.msn, len(seg.parts)
        return (self._next_msn, 0) if self.inits else None

    # ------------------------------------------------------------------ video placement
    def _part_limit(self, timescale: int) -> int:
        return int(self.settings.part_target * timescale)

    def _take_config(self, au: AccessUnit, first: bool) -> bool:
        sps = next((n for n in au.nals if n and n[0] & 0x1F == NAL_SPS), None)
        pps = next((n for n in au.nals if n and n[0] & 0x1F == NAL_PPS), None)
        if sps is None or pps is None:
            return not first  # a keyframe without parameter sets keeps the current ones
        if self.video is not None and (sps, pps) == (self.video.sps, self.video.pps):
            return True
        try:
            config = VideoConfig.from_parameter_sets(sps, pps)
        except ValueError:
            return not first
        self.video = config
        self._new_init()
        return True

    def _new_init(self) -> None:
        self._init_id += 1
        self.inits[self._init_id] = init_segment(self.video, self.audio)
        while len(self.inits) > 4:  # older ones only serve segments long gone
            del self.inits[min(self.inits)]
        self._events.append(InitChanged(self._init_id))

    def _place_video(self, frame: _Pending, ticks: int) -> None:
        au = frame.au
        init_before = self._init_id
        keyframe = au.keyframe and self._take_config(au, first=False)
        changed = self._init_id != init_before
        limit = self.settings
        open_seg = self._open_segment()
        # A segment that a forced cut started has no keyframe: the first one ends it.
        independent = (
            open_seg is None
            or open_seg.independent
            or (not open_seg.parts and bool(self._v_samples) and self._v_samples[0].sync)
        )
        seg_s = self._seg_ticks / VIDEO_TIMESCALE
        add_s = ticks / VIDEO_TIMESCALE
        if self._open_segment() is None:
            self._start_segment(frame.dts, VIDEO_TIMESCALE, discontinuity=False)
        elif changed or (keyframe and (seg_s >= limit.keyframe_cut_from or not independent)):
            self._cut_segment(frame.dts, VIDEO_TIMESCALE, discontinuity=changed)
        elif seg_s + add_s > limit.hard_limit:
            self._cut_segment(frame.dts, VIDEO_TIMESCALE, discontinuity=False)
        elif self._part_ticks + ticks > self._part_limit(VIDEO_TIMESCALE):
            self._close_part(final=False, boundary=frame.dts * self._audio_rate() // 90000)
        if not self._v_samples:
            self._v_start = frame.dts
        self._v_samples.append(Sample(ticks, avc_sample(au.nals, self.video), keyframe))
        self._part_ticks += ticks
        self._seg_ticks += ticks
        if (
            not self._asked
            and (self._seg_ticks / VIDEO_TIMESCALE) >= limit.target_duration - limit.keyframe_lead
        ):
            self._asked = True
            self._want_keyframe("segment reaching its target")

    def _audio_rate(self) -> int:
        return self.audio.sample_rate if self.audio is not None else VIDEO_TIMESCALE

    # ------------------------------------------------------------------ audio-only placement
    def _drive_audio(self) -> None:
        rate = self._audio_rate()
        queue = self._a_queue
        # Decide on the newest frame; the ones before it are already placed in the part.
        dt, frame = queue.pop()
        prev = queue[-1][0] if queue else None
        if prev is not None:  # the previous frame's real length is known now (gaps count)
            extra = min(dt - prev, self._part_limit(rate)) - AAC_FRAME_SAMPLES
            self._part_ticks += extra
            self._seg_ticks += extra
        seg = self._open_segment()
        if seg is None:
            if not self.inits:
                self._new_init()
            self._start_segment(dt, rate, discontinuity=False)
        elif (self._seg_ticks + AAC_FRAME_SAMPLES) / rate > self.settings.target_duration:
            self._cut_segment(dt, rate, discontinuity=False)
        elif self._part_ticks + AAC_FRAME_SAMPLES > self._part_limit(rate):
            self._close_part(final=False)
        self._a_queue.append((dt, frame))  # a cut replaced the list: not ``queue``
        self._part_ticks += AAC_FRAME_SAMPLES
        self._seg_ticks += AAC_FRAME_SAMPLES

    # ------------------------------------------------------------------ cuts
    def _open_segment(self) -> Segment | None:
        if self.segments and not self.segments[-1].complete:
            return self.segments[-1]
        return None

    def _start_segment(self, start_ticks: int, timescale: int, discontinuity: bool) -> None:
        seg = Segment(self._next_msn, start_ticks / timescale, self._init_id, discontinuity)
        self._next_msn += 1
        self.segments.append(seg)
        self._seg_ticks = 0
        self._part_ticks = 0
        self._asked = False
        if self.has_video:  # audio before the segment's first picture has no place
            boundary = start_ticks * self._audio_rate() // timescale
            if not any(s.parts for s in self.segments):
                kept = [(d, f) for d, f in self._a_queue if d >= boundary]
                self.dropped_audio += len(self._a_queue) - len(kept)
                self._a_queue = kept
        self._trim()

    def _cut_segment(self, start_ticks: int, timescale: int, discontinuity: bool) -> None:
        seg = self._open_segment()
        assert seg is not None
        self._close_part(final=True, boundary=start_ticks * self._audio_rate() // timescale)
        self._complete_segment(seg)
        self._start_segment(start_ticks, timescale, discontinuity)

    def _complete_segment(self, seg: Segment) -> None:
        seg.complete = True
        self._events.append(SegmentReady(seg.msn, seg.duration))

    def _close_part(self, final: bool, boundary: int | None = None) -> None:
        seg = self._open_segment()
        if seg is None:
            return
        runs: list[TrackRun] = []
        duration_ticks, timescale = 0, VIDEO_TIMESCALE
        independent = False
        if self.has_video:
            if self._v_samples:
                runs.append(TrackRun(VIDEO_TRACK_ID, self._v_start, self._v_samples))
                duration_ticks = sum(s.duration for s in self._v_samples)
                independent = self._v_samples[0].sync
            self._v_samples = []
        audio_run = self._take_audio(boundary)
        if audio_run is not None:
            runs.append(audio_run)
            if not self.has_video:
                duration_ticks = sum(s.duration for s in audio_run.samples)
                timescale = self._audio_rate()
                independent = True
        self._part_ticks = 0
        if not runs:
            return
        self._fragment_seq += 1
        part = Part(
            seg.msn,
            len(seg.parts),
            duration_ticks / timescale,
            independent,
            media_fragment(self._fragment_seq, runs),
        )
        seg.parts.append(part)
        self._events.append(PartReady(part.msn, part.index, part.independent))

    def _take_audio(self, boundary: int | None) -> TrackRun | None:
        queue = self._a_queue
        if not queue:
            return None
        take = len(queue) if boundary is None else sum(1 for d, _ in queue if d < boundary)
        if take == 0:
            return None
        chosen, self._a_queue = queue[:take], queue[take:]
        limit = self._part_limit(self._audio_rate())  # a gap leaves a hole, not a long part
        samples = []
        for i, (dt, frame) in enumerate(chosen):
            nxt = chosen[i + 1][0] if i + 1 < len(chosen) else dt + AAC_FRAME_SAMPLES
            samples.append(Sample(max(1, min(nxt - dt, limit)), frame, True))
        return TrackRun(AUDIO_TRACK_ID, chosen[0][0], samples)

    def _want_keyframe(self, reason: str) -> None:
        self.keyframe_requests += 1
        self._events.append(KeyframeWanted(self._next_msn, reason))

    def _trim(self) -> None:
        complete = [s for s in self.segments if s.complete]
        listed = complete[-self.settings.window :]
        if listed:
            first = listed[0].msn
            for seg in self.segments:
                if seg.msn >= first:
                    break
                if seg.msn >= self.media_sequence and seg.discontinuity:
                    self.discontinuity_sequence += 1
            self.media_sequence = max(self.media_sequence, first)
        keep = self.settings.window + self.settings.retain + 1
        while len(self.segments) > keep:
            self.segments.popleft()
