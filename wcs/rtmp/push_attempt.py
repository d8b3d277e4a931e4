"""One connection attempt of a push: the frame sink on the source stream, and its outcome.

An :class:`Attempt` holds one connection's worth of state (the publisher socket, the
pipeline worker, the keyframe pacer, the subscription to the source's frames). Frames that
arrive for a finished attempt are ignored, so a reconnect never mixes two connections.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wcs.app.streams import Stream, Subscription
from wcs.media.audio import AudioFrame
from wcs.media.h264.nal import AccessUnit

from . import events as ev
from .client import RtmpPublisher
from .keyframes import KeyframePacer
from .muxer import FlvTag
from .worker import PipelineWorker

if TYPE_CHECKING:
    from .push_job import PushJob


class Ended(enum.Enum):
    STOP = "stop"  # terminate / shutdown / source ended: no retry
    RESTART = "restart"  # the source's track set changed: reconnect at once


@dataclass(slots=True)
class Attempt:
    """One connection's worth of state; frames for a finished attempt are ignored."""

    job: PushJob
    stream: Stream
    publisher: RtmpPublisher
    kinds: frozenset[str]
    worker: PipelineWorker | None = None
    pacer: KeyframePacer | None = None
    subscription: Subscription | None = None
    aac_subscription: Subscription | None = None  # the stream's shared AAC stage
    done: asyncio.Future[str | Ended] | None = None
    live: bool = True

    # FrameSink (called on the event loop by the hub; never blocks)
    def on_video(self, au: AccessUnit, pts_ms: float) -> None:
        if self.live and self.worker is not None:
            self.worker.put_video(pts_ms, au.nals, au.keyframe)
            if self.pacer is not None and self.pacer.on_frame(pts_ms, au.keyframe):
                self.stream.request_keyframe()

    def on_audio(self, frame: AudioFrame, pts_ms: float) -> None:
        if self.live and self.worker is not None:
            self.worker.put_audio(pts_ms, frame.codec, frame.payload)

    def on_aac(self, data: bytes, pts_ms: float) -> None:
        if self.live and self.worker is not None:
            self.worker.put_aac(pts_ms, data)

    def on_stream_end(self, reason: str) -> None:
        if self.live:
            self.job.source_ended(reason)

    def deliver(self, tags: list[FlvTag]) -> None:
        if not self.live:
            return
        pub = self.publisher
        counts = self.job.sent
        for tag in tags:
            if pub.send_tag(tag) and not tag.config:
                counts[tag.kind] = counts.get(tag.kind, 0) + 1
        if self.worker is not None:
            w, h = self.worker.pipeline.size
            if (w, h) != (self.job.width, self.job.height) and w:
                self.job.width, self.job.height = w, h

    def end(self, outcome: str | Ended) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(outcome)


def failure_text(failure: ev.Failed) -> str:
    """The server's reason as WCS-style info text."""
    text = f"Failed by RTMP writer error: {failure.stage}"
    if failure.code:
        text += f" {failure.code}"
    if failure.description:
        text += f" ({failure.description})"
    return text
