"""The decisions of one recording, sans-IO: when a file starts, when it rotates, which file
each frame goes to, and the file names. Fed frames with their pts (ms on the stream's media
clock); returns commands for the writer thread (:mod:`wcs.record.worker`).

* A file with video starts on a keyframe carrying SPS/PPS; until one comes, video and audio
  are dropped and a keyframe is asked for (``wants_keyframe``). An audio-only stream starts at
  its first audio frame. A stream whose video does not come within ``KEYFRAME_WAIT_MS`` of
  audio is recorded audio-only until its first keyframe, where the next file (with video)
  starts.
* Rotation (size or duration) is due once the current file has reached its limit; the next
  file then starts at the next keyframe (one is asked for), so each file plays on its own
  and no video frame is lost or doubled between files. Audio is split by pts at the same
  point: frames before it still go to the previous file, which is closed once audio has
  passed the point (or after ``PREVIOUS_GRACE_MS`` of video without audio). An audio-only
  file rotates at any frame.
* The size of a file is estimated from the media written (video bytes plus the AAC bit
  rate or the Opus bytes), as the muxer's output is not known on this side.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wcs.media.audio import AudioFrame
from wcs.media.h264.nal import NAL_SPS, AccessUnit
from wcs.media.h264.sps import parse_sps
from wcs.rtmp.aac import DEFAULT_BITRATE

from .container import ContainerPlan, choose_container
from .rotation import NO_ROTATION, Rotation
from .template import END_ELEMENTS, NameFields, render
from .writer import FileSpec

PREVIOUS_GRACE_MS = 1000.0
KEYFRAME_RETRY_MS = 1000.0
KEYFRAME_WAIT_MS = 3000.0  # audio waits this long for the first keyframe, then goes alone
# "aac": frames of the stream's shared AAC stage (AudioFrame at 48 kHz, 1024 samples each)
RECORDED_AUDIO = frozenset({"PCMU", "PCMA", "opus", "aac"})


@dataclass(frozen=True, slots=True)
class OpenFile:
    file_id: int
    spec: FileSpec


@dataclass(frozen=True, slots=True)
class WriteVideo:
    file_id: int
    data: bytes  # Annex-B
    rel_ms: float
    keyframe: bool


@dataclass(frozen=True, slots=True)
class WriteAudio:
    file_id: int
    codec: str
    payload: bytes
    rel_ms: float


@dataclass(frozen=True, slots=True)
class CloseFile:
    file_id: int
    final_path: Path  # rename to this when it differs from the path written


Command = OpenFile | WriteVideo | WriteAudio | CloseFile


@dataclass(slots=True)
class RecordFile:
    file_id: int
    path: Path
    start_ms: float
    plan: ContainerPlan
    start_epoch_ms: int
    last_ms: float
    bytes: float = 0.0
    closed: bool = False
    frames: dict[str, int] = field(default_factory=lambda: {"video": 0, "audio": 0})


@dataclass(frozen=True, slots=True)
class StreamFacts:
    """What the core needs to know about the stream: names, codecs, the epoch of pts 0."""

    name: str
    media_session_id: str
    call_id: str | None
    video_codec: str | None
    audio_codec: str | None
    epoch_ms_at_zero: float  # wall clock (ms since 1970) of media pts 0


class RecordingCore:
    def __init__(
        self,
        facts: Callable[[], StreamFacts],
        record_dir: Path,
        template: str,
        rotation: Rotation = NO_ROTATION,
        container: str = "auto",
        exists: Callable[[Path], bool] = os.path.exists,
    ) -> None:
        self._facts = facts
        self.record_dir = record_dir
        self.template = template
        self.rotation = rotation
        self.container = container
        self._exists = exists
        self._taken: set[Path] = set()
        self._next_id = 1
        self.current: RecordFile | None = None
        self.previous: RecordFile | None = None
        self._switch_ms = 0.0
        self._resync = False
        self._asked_at: float | None = None
        self.wants_keyframe = False  # read and cleared by the owner: ask the stream for one
        self.ended = False
        self._first_audio_ms: float | None = None
        self.files: list[RecordFile] = []
        self.notes: list[str] = []

    # ------------------------------------------------------------------ frames
    def video(self, au: AccessUnit, pts: float) -> list[Command]:
        out: list[Command] = []
        if self.ended:
            return out
        cur = self.current
        if cur is not None and cur.plan.video is None:
            if not au.keyframe:
                self._ask_keyframe(pts)
                return out
            cur = self._rotate(pts, au, out)  # video has come: a file with video from here
        elif cur is None or self._resync:
            if not au.keyframe:
                self._ask_keyframe(pts)
                return out
            self._resync = False
            if cur is None:
                cur = self._open(pts, au, out)
        elif au.keyframe and self._due(cur, pts):
            cur = self._rotate(pts, au, out)
        data = au.annexb()
        out.append(WriteVideo(cur.file_id, data, pts - cur.start_ms, au.keyframe))
        cur.bytes += len(data)
        cur.last_ms = max(cur.last_ms, pts)
        cur.frames["video"] += 1
        if self._due(cur, pts):
            self._ask_keyframe(pts)  # early, so the next file starts soon after the limit
        prev = self.previous
        if prev is not None and pts - self._switch_ms > PREVIOUS_GRACE_MS:
            self._close(prev, out)
        return out

    def audio(self, frame: AudioFrame, pts: float) -> list[Command]:
        out: list[Command] = []
        if self.ended or frame.codec not in RECORDED_AUDIO:
            return out
        cur = self.current
        if cur is None:
            if self._first_audio_ms is None:
                self._first_audio_ms = pts
            if (
                self._facts().video_codec is not None
                and pts - self._first_audio_ms < KEYFRAME_WAIT_MS
            ):
                return out  # a file with video starts at a keyframe
            cur = self._open(pts, None, out)
        elif cur.plan.video is None and self._due(cur, pts):
            cur = self._rotate(pts, None, out)
        target = cur
        prev = self.previous
        if prev is not None:
            if pts < self._switch_ms:
                target = prev
            else:
                self._close(prev, out)
        if pts < target.start_ms:
            return out  # before the file's first picture
        out.append(WriteAudio(target.file_id, frame.codec, frame.payload, pts - target.start_ms))
        if target.plan.audio == "opus":
            target.bytes += len(frame.payload)
        else:
            target.bytes += frame.seconds * DEFAULT_BITRATE / 8
        target.last_ms = max(target.last_ms, pts + frame.seconds * 1000)
        target.frames["audio"] += 1
        return out

    def video_dropped(self) -> None:
        """A video frame could not be queued: the next file content must restart at a keyframe."""
        if self.current is not None:
            self._resync = True
            self._asked_at = None
            self.wants_keyframe = True

    def end(self) -> list[Command]:
        out: list[Command] = []
        if self.ended:
            return out
        self.ended = True
        for f in (self.previous, self.current):
            if f is not None:
                self._close(f, out)
        return out

    # ------------------------------------------------------------------ files
    def _due(self, f: RecordFile, pts: float) -> bool:
        r = self.rotation
        if r.max_ms is not None and pts - f.start_ms >= r.max_ms:
            return True
        return r.max_bytes is not None and f.bytes >= r.max_bytes

    def _ask_keyframe(self, pts: float) -> None:
        # Again after a while: a request (PLI, FIR, SIP INFO) can be lost or ignored.
        if self._asked_at is None or pts - self._asked_at >= KEYFRAME_RETRY_MS:
            self._asked_at = pts
            self.wants_keyframe = True

    def _rotate(self, pts: float, au: AccessUnit | None, out: list[Command]) -> RecordFile:
        old = self.current
        assert old is not None
        if self.previous is not None:
            self._close(self.previous, out)
        new = self._open(pts, au, out)
        if old.plan.audio is None:
            self._close(old, out)
        else:
            self.previous = old
            self._switch_ms = pts
        return new

    def _open(self, pts: float, au: AccessUnit | None, out: list[Command]) -> RecordFile:
        facts = self._facts()
        video_codec = facts.video_codec if au is not None else None
        plan = choose_container(self.container, video_codec, facts.audio_codec)
        if plan.note and plan.note not in self.notes:
            self.notes.append(plan.note)
        width = height = 0
        if au is not None:
            sps = next((n for n in au.nals if n and n[0] & 0x1F == NAL_SPS), None)
            if sps is not None:
                try:
                    info = parse_sps(sps)
                    width, height = info.width, info.height
                except ValueError:
                    pass
        start_epoch = round(facts.epoch_ms_at_zero + pts)
        fields = self._fields(facts, plan)
        path = self._free_path(render(self.template, fields, start_epoch), plan.extension)
        f = RecordFile(self._next_id, path, pts, plan, start_epoch, pts)
        self._next_id += 1
        spec = FileSpec(path, plan, pts, facts.audio_codec, width, height, facts.name)
        out.append(OpenFile(f.file_id, spec))
        self.current = f
        self.files.append(f)
        self._asked_at = None
        return f

    def _close(self, f: RecordFile, out: list[Command]) -> None:
        if f.closed:
            return
        f.closed = True
        final = f.path
        if any("{" + e + "}" in self.template for e in END_ELEMENTS):
            facts = self._facts()
            end_epoch = round(facts.epoch_ms_at_zero + f.last_ms)
            name = render(self.template, self._fields(facts, f.plan), f.start_epoch_ms, end_epoch)
            final = self._free_path(name, f.plan.extension, own=f.path)
        out.append(CloseFile(f.file_id, final))
        if f is self.previous:
            self.previous = None
        if f is self.current:
            self.current = None

    @staticmethod
    def _fields(facts: StreamFacts, plan: ContainerPlan) -> NameFields:
        return NameFields(
            facts.name, facts.media_session_id, facts.call_id, plan.audio or "", plan.video or ""
        )

    def _free_path(self, base: str, ext: str, own: Path | None = None) -> Path:
        """``base + ext`` in the record directory, or ``base-N + ext`` if that is taken."""
        n = 0
        while True:
            name = f"{base}{ext}" if n == 0 else f"{base}-{n}{ext}"
            path = self.record_dir / name
            if path == own or (path not in self._taken and not self._exists(path)):
                self._taken.add(path)
                return path
            n += 1


__all__ = [
    "CloseFile",
    "Command",
    "OpenFile",
    "RecordFile",
    "RecordingCore",
    "StreamFacts",
    "WriteAudio",
    "WriteVideo",
]
