"""A VP8 publisher's frames as H.264, made only while a frame sink wants video.

WebRTC viewers of a VP8 stream get its packets as received (forwarded, never transcoded);
RTMP pushes, recordings and HLS need H.264. :class:`Vp8Stage` stands between the publisher's
:class:`~wcs.app.stream_feed.StreamFeed` and its :class:`~wcs.app.streams.Publication`:
packets and audio pass straight through; VP8 frames (from
:class:`wcs.media.vp8.Vp8Depacketizer`) go to :class:`wcs.media.vp8_h264.Vp8ToH264` on a
:class:`~wcs.media.thread_worker.ThreadWorker` (decoding and encoding a picture costs
milliseconds: never on the loop), and the H.264 access units come back on the loop into
the stream's frame path, on the same media clock as the audio.

The stream tells the stage when frame sinks want video (``PublisherControl.video_frames``):
the first one starts a transcoder and asks the publisher for a key frame (the decoder
starts there), the last one leaving stops it. The queue to the thread is bounded
(``queue_limit`` frames): a frame that does not fit is dropped and counted
(``wcs_vp8_transcode_dropped_frames_total``), and the stage waits for the next key frame
(a decoder must not skip a reference) after asking for one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from wcs.media.audio import AudioFrame
from wcs.media.h264.nal import AccessUnit
from wcs.media.thread_worker import ThreadWorker
from wcs.media.vp8_h264 import Vp8ToH264
from wcs.observability import metrics

from .stream_feed import StreamSink

log = logging.getLogger(__name__)

DEFAULT_QUEUE = 30  # ~1 s of video at 30 fps waiting for the transcoder thread

DROPPED = metrics.REGISTRY.counter(
    "wcs_vp8_transcode_dropped_frames_total",
    "VP8 frames not transcoded to H.264: the transcoder thread's queue was full",
)
TRANSCODED = metrics.REGISTRY.counter(
    "wcs_vp8_transcoded_frames_total", "H.264 access units made from VP8 publishers' video"
)
ACTIVE = metrics.REGISTRY.gauge(
    "wcs_vp8_transcoders", "VP8 → H.264 transcoders running now (one per stream at most)"
)

_Job = tuple[bytes, bool, float]  # VP8 frame, key frame, pts (ms)


class Vp8Stage:
    """A :class:`StreamSink` in front of ``target``, transcoding its video on demand."""

    def __init__(
        self,
        target: StreamSink,
        name: str,
        request_keyframe: Callable[[], None],
        *,
        keyframe_interval: float = 2.0,
        queue_limit: int = DEFAULT_QUEUE,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.target = target
        self.name = name
        self.request_keyframe = request_keyframe
        self.keyframe_interval = keyframe_interval
        self.queue_limit = queue_limit
        self.dropped = 0
        self._loop = loop or asyncio.get_running_loop()
        self._worker: ThreadWorker[_Job] | None = None
        self._transcoder: Vp8ToH264 | None = None
        self._need_key = True

    @property
    def active(self) -> bool:
        return self._worker is not None

    def set_active(self, wanted: bool) -> None:
        """Start (True) or stop (False) transcoding; the stream calls it on demand."""
        if wanted and self._worker is None:
            transcoder = Vp8ToH264(self.keyframe_interval)
            self._transcoder = transcoder
            self._worker = ThreadWorker(
                f"wcs-vp8-{self.name}"[:15],
                lambda batch: self._transcode(transcoder, batch),
                self.queue_limit,
            )
            self._need_key = True
            self.request_keyframe()
            ACTIVE.inc()
            log.info("stream %s: VP8 → H.264 transcoding started", self.name)
        elif not wanted and self._worker is not None:
            self.close()
            log.info("stream %s: VP8 → H.264 transcoding stopped (no frame sink)", self.name)

    def close(self) -> None:
        worker, self._worker, self._transcoder = self._worker, None, None
        if worker is not None:
            worker.close()
            ACTIVE.inc(-1)

    # -- StreamSink (loop side) --------------------------------------------------------------
    def feed_rtp(self, kind: str, packet: bytes, timestamp: int) -> None:
        self.target.feed_rtp(kind, packet, timestamp)

    def feed_audio(self, frame: AudioFrame, pts_ms: float) -> None:
        self.target.feed_audio(frame, pts_ms)

    def feed_video(self, au: AccessUnit, pts_ms: float) -> None:
        worker = self._worker
        if worker is None:
            return
        if self._need_key:
            if not au.keyframe:
                return
            self._need_key = False
        if not worker.put((au.nals[0], au.keyframe, pts_ms)):
            self.dropped += 1
            DROPPED.inc()
            self._need_key = True  # the decoder's reference chain is broken
            self.request_keyframe()

    # -- thread side -------------------------------------------------------------------------
    def _transcode(self, transcoder: Vp8ToH264, batch: list[_Job]) -> bool:
        out: list[tuple[AccessUnit, float]] = []
        for frame, key, pts in batch:
            try:
                out += transcoder.feed(frame, key, pts)
            except Exception:  # one bad frame costs its picture, not the stream's video
                log.exception("stream %s: VP8 → H.264 failed for one frame", self.name)
        if out:
            try:
                self._loop.call_soon_threadsafe(self._deliver, transcoder, out)
            except RuntimeError:  # the loop is closed: shutting down
                return False
        return True

    def _deliver(self, transcoder: Vp8ToH264, units: list[tuple[AccessUnit, float]]) -> None:
        if transcoder is not self._transcoder:
            return  # stopped (or restarted) since: these belong to nobody
        TRANSCODED.inc(len(units))
        for au, pts in units:
            self.target.feed_video(au, pts)


__all__ = ["DEFAULT_QUEUE", "Vp8Stage"]
