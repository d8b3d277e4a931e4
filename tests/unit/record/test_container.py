from __future__ import annotations

import pytest

from wcs.record.container import choose_container


@pytest.mark.parametrize(
    ("setting", "video", "audio", "kind", "out_audio", "out_video"),
    [
        ("auto", "H264", "PCMU", "mp4", "aac", "h264"),
        ("auto", "H264", "PCMA", "mp4", "aac", "h264"),
        ("auto", "H264", "opus", "mkv", "opus", "h264"),
        ("auto", None, "PCMU", "mp4", "aac", None),
        ("auto", None, "opus", "mp4", "aac", None),  # audio only: always MP4 with AAC
        ("auto", "H264", None, "mp4", None, "h264"),
        ("mp4", "H264", "opus", "mp4", "aac", "h264"),
        ("mkv", "H264", "PCMU", "mkv", "aac", "h264"),
        ("webm", None, "opus", "webm", "opus", None),
        ("webm", "H264", "opus", "mkv", "opus", "h264"),  # WebM cannot carry H.264
        ("auto", "H264", "telephone-event", "mp4", None, "h264"),
    ],
)
def test_choice(
    setting: str,
    video: str | None,
    audio: str | None,
    kind: str,
    out_audio: str | None,
    out_video: str | None,
) -> None:
    plan = choose_container(setting, video, audio)
    assert (plan.kind, plan.audio, plan.video) == (kind, out_audio, out_video)
    assert plan.extension == "." + kind


def test_webm_override_with_h264_says_why() -> None:
    assert "H.264" in choose_container("webm", "H264", "opus").note


def test_unknown_container() -> None:
    with pytest.raises(ValueError):
        choose_container("avi", "H264", None)
