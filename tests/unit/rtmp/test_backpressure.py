from __future__ import annotations

from wcs.rtmp.backpressure import BackPressureGate


def test_drops_inter_frames_until_a_keyframe_fits() -> None:
    gate = BackPressureGate(limit=1000, hard_limit=5000)
    assert gate.allow_video(0, keyframe=False)
    assert not gate.allow_video(2000, keyframe=False)  # over the limit
    assert not gate.allow_video(10, keyframe=False)  # buffer drained, but no keyframe yet
    assert not gate.allow_video(2000, keyframe=True)  # keyframe, but still over
    assert gate.allow_video(10, keyframe=True)
    assert gate.allow_video(10, keyframe=False)
    assert gate.dropped.video_frames == 3
    assert not gate.waiting_for_keyframe


def test_audio_only_dropped_above_the_hard_limit() -> None:
    gate = BackPressureGate(limit=1000, hard_limit=5000)
    assert gate.allow_audio(4000)
    assert not gate.allow_audio(6000)
    assert gate.dropped.audio_frames == 1
