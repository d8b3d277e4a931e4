"""RecordingCore decisions, with frames made up on the spot (no PyAV, no files)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from wcs.media.audio import AudioFrame
from wcs.media.h264.nal import AccessUnit
from wcs.record.core import (
    CloseFile,
    Command,
    OpenFile,
    RecordingCore,
    StreamFacts,
    WriteAudio,
    WriteVideo,
)
from wcs.record.rotation import parse_rotation

DIR = Path("/records")


def facts(video: str | None = "H264", audio: str | None = "PCMU") -> StreamFacts:
    return StreamFacts("s1", "msid", "call", video, audio, 1_700_000_000_000.0)


def core(
    template: str = "{streamName}-{startTime}-{endTime}",
    rotation: str = "",
    video: str | None = "H264",
    audio: str | None = "PCMU",
    existing: frozenset[Path] = frozenset(),
) -> RecordingCore:
    return RecordingCore(
        lambda: facts(video, audio),
        DIR,
        template,
        parse_rotation(rotation),
        exists=lambda p: p in existing,
    )


def key(ts: int = 0) -> AccessUnit:
    return AccessUnit(ts, [b"\x67\x42", b"\x68\xce", b"\x65\x88"], keyframe=True)


def delta(ts: int = 0) -> AccessUnit:
    return AccessUnit(ts, [b"\x41\x9a"])


def pcmu(n: int = 160) -> AudioFrame:
    return AudioFrame("PCMU", 0, 8000, b"\xff" * n, n)


T = TypeVar("T")


def of(cmds: list[Command], kind: type[T]) -> list[T]:
    return [c for c in cmds if isinstance(c, kind)]


def test_waits_for_a_keyframe_and_drops_audio_before_it() -> None:
    c = core()
    assert c.audio(pcmu(), 0.0) == []
    assert c.video(delta(), 10.0) == []
    assert c.wants_keyframe
    cmds = c.video(key(), 40.0)
    opened = of(cmds, OpenFile)
    assert len(opened) == 1
    spec = opened[0].spec
    assert spec.start_ms == 40.0 and spec.plan.kind == "mp4" and spec.plan.audio == "aac"
    assert spec.path == DIR / "s1-1700000000040-{endTime}.mp4"
    assert of(cmds, WriteVideo) == [WriteVideo(1, key().annexb(), 0.0, True)]
    assert c.audio(pcmu(), 35.0) == []  # before the first picture
    assert c.audio(pcmu(), 45.0) == [WriteAudio(1, "PCMU", b"\xff" * 160, 5.0)]


def test_audio_only_starts_at_the_first_audio_frame() -> None:
    c = core(video=None)
    cmds = c.audio(pcmu(), 100.0)
    assert isinstance(cmds[0], OpenFile) and cmds[0].spec.plan.video is None
    assert cmds[1] == WriteAudio(1, "PCMU", b"\xff" * 160, 0.0)


def test_telephone_events_are_not_recorded() -> None:
    c = core(video=None)
    assert c.audio(AudioFrame("telephone-event", 0, 8000, b"\x01\x80\x00\xa0", 160), 0) == []


def test_end_renames_with_the_end_time() -> None:
    c = core()
    c.video(key(), 0.0)
    c.audio(pcmu(), 1980.0)  # 20 ms frame: the file ends at 2000 ms
    cmds = c.end()
    assert cmds == [CloseFile(1, DIR / "s1-1700000000000-1700000002000.mp4")]
    assert c.end() == [] and c.video(key(), 3000.0) == []


def test_no_rename_without_end_elements() -> None:
    c = core("{streamName}")
    c.video(key(), 0.0)
    assert c.end() == [CloseFile(1, DIR / "s1.mp4")]


def test_taken_names_get_a_number() -> None:
    c = core("{streamName}", existing=frozenset({DIR / "s1.mp4"}))
    cmds = c.video(key(), 0.0)
    assert cmds[0].spec.path == DIR / "s1-1.mp4"  # type: ignore[union-attr]


def test_duration_rotation_waits_for_a_keyframe_and_splits_audio_by_pts() -> None:
    c = core("{streamName}-{startTime}", rotation="2s")
    c.video(key(), 0.0)
    for i in range(1, 50):
        c.audio(pcmu(), i * 20.0)
    assert c.video(delta(), 2000.0)[0] == WriteVideo(1, delta().annexb(), 2000.0, False)
    assert c.wants_keyframe  # due: a keyframe is asked for
    cmds = c.video(key(), 2040.0)
    assert isinstance(cmds[0], OpenFile) and cmds[0].file_id == 2
    assert cmds[0].spec.start_ms == 2040.0
    assert of(cmds, WriteVideo) == [WriteVideo(2, key().annexb(), 0.0, True)]
    # Audio still before the switch point goes to the first file, then the first one closes.
    assert c.audio(pcmu(), 2020.0) == [WriteAudio(1, "PCMU", b"\xff" * 160, 2020.0)]
    cmds = c.audio(pcmu(), 2040.0)
    assert cmds == [
        CloseFile(1, DIR / "s1-1700000000000.mp4"),
        WriteAudio(2, "PCMU", b"\xff" * 160, 0.0),
    ]
    assert [f.file_id for f in c.files] == [1, 2] and c.current is not None


def test_previous_file_closes_without_audio_after_grace() -> None:
    c = core("{streamName}", rotation="1s")
    c.video(key(), 0.0)
    c.video(key(), 1000.0)
    assert of(c.video(delta(), 1500.0), CloseFile) == []
    assert of(c.video(delta(), 2100.0), CloseFile) == [CloseFile(1, DIR / "s1.mp4")]


def test_size_rotation() -> None:
    c = core("{streamName}", rotation="64K")
    big = AccessUnit(0, [b"\x41" + b"\x00" * 40_000])
    c.video(key(), 0.0)
    c.video(big, 40.0)
    assert not c.wants_keyframe
    c.video(big, 80.0)
    assert c.wants_keyframe  # over 64 KiB
    assert isinstance(c.video(key(), 120.0)[0], OpenFile)


def test_audio_only_rotation_at_any_frame() -> None:
    c = core("{streamName}", rotation="1s", video=None)
    for i in range(50):
        c.audio(pcmu(), i * 20.0)
    cmds = c.audio(pcmu(), 1000.0)
    assert [type(x) for x in cmds] == [OpenFile, CloseFile, WriteAudio]


def test_queue_overflow_resyncs_on_a_keyframe() -> None:
    c = core()
    c.video(key(), 0.0)
    c.video_dropped()
    assert c.wants_keyframe
    assert c.video(delta(), 40.0) == []
    assert of(c.video(key(), 80.0), WriteVideo) == [WriteVideo(1, key().annexb(), 80.0, True)]
    assert len(c.files) == 1  # the same file goes on


def test_video_that_does_not_come_leaves_audio_alone_until_its_keyframe() -> None:
    c = core("{streamName}")
    for i in range(150):
        assert c.audio(pcmu(), i * 20.0) == []  # waiting for a keyframe: 3 s of audio
    cmds = c.audio(pcmu(), 3000.0)
    assert isinstance(cmds[0], OpenFile)
    assert cmds[0].spec.plan.video is None and cmds[0].spec.plan.audio == "aac"
    assert c.video(delta(), 3500.0) == [] and c.wants_keyframe
    cmds = c.video(key(), 3600.0)
    assert isinstance(cmds[0], OpenFile) and cmds[0].spec.plan.video == "h264"
    assert cmds[0].spec.path == DIR / "s1-1.mp4"
    assert c.audio(pcmu(), 3590.0) == [WriteAudio(1, "PCMU", b"\xff" * 160, 590.0)]


def test_keyframe_requests_are_repeated_but_not_per_frame() -> None:
    c = core()
    asked = []
    for i in range(40):
        c.video(delta(), i * 66.7)
        asked.append(c.wants_keyframe)
        c.wants_keyframe = False
    assert sum(asked) == 3  # at 0, ~1 s and ~2 s
