"""What to drop when the socket cannot keep up (sans-IO: fed the write buffer size).

Memory must not grow without bound when the RTMP server or the network is slow. Above
``limit`` bytes buffered, video is dropped frame by frame until the next keyframe that
finds the buffer below the limit (a decoder cannot use inter frames after a gap). Audio
is small and only dropped above ``hard_limit``. Sequence headers and metadata are never
dropped (the caller does not ask for them).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class DropCounters:
    video_frames: int = 0
    audio_frames: int = 0


class BackPressureGate:
    def __init__(self, limit: int = 1_000_000, hard_limit: int = 4_000_000) -> None:
        self.limit = limit
        self.hard_limit = hard_limit
        self.dropped = DropCounters()
        self.waiting_for_keyframe = False

    def allow_video(self, buffered: int, keyframe: bool) -> bool:
        if buffered > self.limit:
            self.waiting_for_keyframe = True
            self.dropped.video_frames += 1
            return False
        if self.waiting_for_keyframe and not keyframe:
            self.dropped.video_frames += 1
            return False
        self.waiting_for_keyframe = False
        return True

    def allow_audio(self, buffered: int) -> bool:
        if buffered > self.hard_limit:
            self.dropped.audio_frames += 1
            return False
        return True
