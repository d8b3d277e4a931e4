"""A hub stream fed with the trace's call (46 pictures, 153 PCMU frames), for the playout
tests: the publisher side is played by the test."""

from __future__ import annotations

from tests.unit.record.frames import Frame, trace_frames
from wcs.app.stream import PublisherControl, TrackInfo
from wcs.app.streams import Publication, StreamHub


def tracks(video: bool = True, audio: str | None = "PCMU") -> dict[str, TrackInfo]:
    out: dict[str, TrackInfo] = {}
    if video:
        out["video"] = TrackInfo("video", "H264", 90000, payload_type=97)
    if audio is not None:
        out["audio"] = TrackInfo("audio", audio, 8000 if audio != "opus" else 48000)
    return out


class Source:
    """A published stream and the keyframe requests its subscribers made."""

    def __init__(self, hub: StreamHub, name: str = "s", **kw: object) -> None:
        self.keyframe_requests = 0
        control = PublisherControl(request_keyframe=self._keyframe)
        self.pub: Publication = hub.publish(
            name,
            call_id=None,
            app_key="a",
            tracks=tracks(**kw),
            control=control,  # type: ignore[arg-type]
        )
        self.stream = self.pub.stream

    def _keyframe(self) -> None:
        self.keyframe_requests += 1

    def feed(self, frames: list[Frame], shift_ms: float = 0.0) -> None:
        for f in frames:
            if f.au is not None:
                self.pub.feed_video(f.au, f.pts + shift_ms)
            elif f.audio is not None:
                self.pub.feed_audio(f.audio, f.pts + shift_ms)


__all__ = ["Source", "trace_frames", "tracks"]
