"""One push job: follows its source stream and keeps it published on one RTMP server.

A :class:`PushJob` may be created before the stream exists (``/push/startup`` may come before
the SIP call's media): it waits PENDING until the hub publishes the name and knows its
tracks, then connects, subscribes to the stream's frames (the hub hands a late subscriber the
access units since the last keyframe first, so the push starts on a decodable picture) and is
PUBLISHING. Each connection is one :class:`~wcs.rtmp.push_attempt.Attempt`; a failure ends
it and, when the reconnect policy allows, the job tries again after a back-off.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wcs.app.streams import Stream, Subscription
from wcs.media.sound import SoundCursor

from . import events as ev
from .client import RtmpPublishError
from .keyframes import KeyframePacer
from .pipeline import PushPipeline
from .push_attempt import Attempt, Ended, failure_text
from .url import RtmpTarget
from .worker import PipelineWorker

if TYPE_CHECKING:
    from .push import PushManager

log = logging.getLogger(__name__)

STOPPED_BY_REST = "Stopped by rest /terminate"
STOPPED_BY_PUBLISHER = "Stopped by publisher stop"
STOPPED_BY_SHUTDOWN = "Stopped by server shutdown"


class PushStatus(enum.StrEnum):
    PENDING = "PENDING"  # waiting for the source stream, or connecting
    PUBLISHING = "PUBLISHING"
    FAILED = "FAILED"  # the server refused or the connection broke (may retry)
    STOPPED = "STOPPED"


# The JSON-ready values of the ``options`` a push was started with (echoed back by REST).
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(slots=True)
class PushRequest:
    """The validated fields of ``/push/startup`` (or of a direct SIP-as-RTMP call)."""

    stream_name: str  # the source stream
    rtmp_url: str
    full_url: bool = False
    flash_version: str | None = None
    options: dict[str, JsonValue] = field(default_factory=dict)
    muted: bool = False
    published_name: str | None = None  # overrides prefix + stream_name (SIP-as-RTMP)
    call_id: str | None = None


class PushJob:
    def __init__(self, manager: PushManager, request: PushRequest, target: RtmpTarget) -> None:
        self.manager = manager
        self.request = request
        self.source = request.stream_name  # the source stream's name in the hub
        self.target = target
        self.media_session_id = str(uuid.uuid4())
        self.status = PushStatus.PENDING
        self.info: str | None = None
        self.muted = request.muted
        self.sound: SoundCursor | None = None  # /push/sound_on
        self.width = 0
        self.height = 0
        self.created = time.time()
        self.failures = 0  # consecutive, reset by a successful publish
        self.reconnects = 0
        self.sent: dict[str, int] = {}  # media tags sent, by kind, over all attempts
        self.app_key = "defaultApp"
        self._attempt: Attempt | None = None
        self._stop_reason: str | None = None
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watched: Stream | None = None
        self._tracks_watch: Subscription | None = None

    # -- public ------------------------------------------------------------------------------

    @property
    def stream_name(self) -> str:
        """The name published on the RTMP server (``rtmp_<source>`` by default)."""
        return self.target.stream

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"push-{self.media_session_id}"
        )

    def stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
        self._kick.set()
        if self._attempt is not None:
            self._attempt.end(Ended.STOP)

    async def wait_closed(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        attempt = self._attempt
        if attempt is not None and attempt.worker is not None:
            attempt.worker.pipeline.muted = muted  # a plain bool the thread reads per frame

    def set_sound(self, sound: SoundCursor | None) -> None:
        """Play ``sound`` in place of the call's audio (None: the call's audio again)."""
        self.sound = sound
        attempt = self._attempt
        if attempt is not None and attempt.worker is not None:
            attempt.worker.pipeline.sound = sound  # one reference, read per frame

    @property
    def sound_enabled(self) -> bool:
        return self.sound is not None and not self.sound.finished

    def stats(self) -> dict[str, int | str]:
        """Frames sent and dropped, and the pipeline's counters (``mediaStats``)."""
        out: dict[str, int | str] = {
            "sentVideo": self.sent.get("video", 0),
            "sentAudio": self.sent.get("audio", 0),
        }
        attempt = self._attempt
        if attempt is not None and attempt.worker is not None:
            w = attempt.worker
            out.update(w.pipeline.stats())
            out.update(
                queueDroppedVideo=w.drops.video,
                queueDroppedAudio=w.drops.audio,
                sendDroppedVideo=attempt.publisher.dropped.video_frames,
                sendDroppedAudio=attempt.publisher.dropped.audio_frames,
            )
        return out

    # -- hub side ----------------------------------------------------------------------------

    def source_changed(self) -> None:
        """The hub (re)published our source or learnt its tracks."""
        self._kick.set()
        attempt = self._attempt
        if attempt is not None and attempt.live:
            kinds = frozenset(attempt.stream.tracks)
            if kinds and kinds != attempt.kinds:
                attempt.end(Ended.RESTART)

    def source_ended(self, reason: str) -> None:
        self.stop(STOPPED_BY_PUBLISHER)

    # -- the job's task ----------------------------------------------------------------------

    async def _run(self) -> None:
        final = PushStatus.STOPPED
        try:
            while self._stop_reason is None:
                try:
                    stream = await self._wait_source()
                except TimeoutError:
                    final = PushStatus.FAILED
                    self._set(PushStatus.FAILED, self._no_source_info())
                    break
                if stream is None:
                    break
                outcome = await self._publish(stream)
                if self._stop_reason is not None:
                    break
                if outcome is Ended.RESTART:
                    continue
                self.failures += 1
                self._set(PushStatus.FAILED, str(outcome))
                delay = self.manager.policy.delay(self.failures)
                if delay is None:
                    final = PushStatus.FAILED
                    break
                log.info("push %s: retry %d in %.1f s", self.media_session_id, self.failures, delay)
                if await self._sleep(delay):
                    break
                self.reconnects += 1
        except Exception:
            log.exception("push %s crashed", self.media_session_id)
            self._set(PushStatus.FAILED, "Failed by error")
            final = PushStatus.FAILED
        finally:
            self._unwatch()
            if final is PushStatus.STOPPED:
                self._set(PushStatus.STOPPED, self._stop_reason or STOPPED_BY_PUBLISHER)
            self.manager.forget(self)

    async def _wait_source(self) -> Stream | None:
        """The source stream once it is published with known tracks; None when stopped.
        Raises TimeoutError when it did not come within the manager's ``source_timeout``."""
        hub = self.manager.hub
        limit = self.manager.source_timeout
        async with asyncio.timeout(limit if limit > 0 else None):
            while self._stop_reason is None:
                self._kick.clear()
                stream = hub.get(self.source)
                if stream is not None and stream.published:
                    if stream.tracks:
                        self._watch(stream)
                        return stream
                    self._watch(stream)
                await self._kick.wait()
        return None

    def _no_source_info(self) -> str:
        secs = f"{self.manager.source_timeout:g}"
        return f"Failed: stream {self.source!r} not published within {secs} s"

    def _watch(self, stream: Stream) -> None:
        """Follow the stream's track changes (learnt late, or a generated track added)."""
        if self._watched is not stream:
            self._unwatch()
            self._tracks_watch = stream.watch_tracks(self._on_tracks)
            self._watched = stream

    def _unwatch(self) -> None:
        if self._tracks_watch is not None:
            self._tracks_watch.cancel()
            self._tracks_watch = None
        self._watched = None

    def _on_tracks(self, stream: Stream) -> None:
        self.source_changed()

    async def _sleep(self, delay: float) -> bool:
        """Wait ``delay`` s; True when stopped meanwhile."""
        self._kick.clear()
        try:
            async with asyncio.timeout(delay):
                while self._stop_reason is None:
                    await self._kick.wait()
                    self._kick.clear()
        except TimeoutError:
            pass
        return self._stop_reason is not None

    async def _publish(self, stream: Stream) -> str | Ended:
        m = self.manager
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str | Ended] = loop.create_future()

        def on_failure(failure: ev.Failed) -> None:  # the server dropped us while publishing
            if not done.done():
                done.set_result(failure_text(failure))

        pub = m.publisher_factory(
            self.target,
            flash_version=self.request.flash_version or m.flash_version,
            on_failure=on_failure,
        )
        attempt = Attempt(self, stream, pub, frozenset(stream.tracks), done=done)
        self._attempt = attempt
        self._set(PushStatus.PENDING, "Connecting")
        try:
            connect = loop.create_task(pub.connect())
            waiters: list[asyncio.Future[None] | asyncio.Future[str | Ended]] = [connect, done]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not connect.done():  # stopped while connecting
                connect.cancel()
                await asyncio.gather(connect, return_exceptions=True)
                await pub.close(timeout=0.5)
                return Ended.STOP
            try:
                connect.result()
            except RtmpPublishError as exc:
                return failure_text(exc.failure)
            if done.done():  # failed or stopped right after Publish.Start
                await pub.close(timeout=0.5)
                return done.result()
            self._attach(attempt, loop)
            self.failures = 0
            self._set(PushStatus.PUBLISHING, None)
            outcome = await done
            if pub.failure is None:
                await pub.close()
            return outcome
        finally:
            self._detach(attempt)

    def _attach(self, attempt: Attempt, loop: asyncio.AbstractEventLoop) -> None:
        stream = attempt.stream
        tracks = stream.tracks
        audio = tracks.get("audio")
        video = tracks.get("video")
        codec = audio.codec if audio is not None else None
        shared_asc = self._shared_aac(attempt, codec)
        pipeline = PushPipeline(
            video=video is not None,
            audio_codec=codec,
            g711_passthrough=self.manager.g711_passthrough,
            muted=self.muted,
            shared_asc=shared_asc,
        )
        pipeline.sound = self.sound  # a reconnect goes on with the sound where it was
        if video is not None and video.width:
            self.width, self.height = int(video.width), int(video.height or 0)
        attempt.worker = PipelineWorker(
            pipeline,
            loop,
            attempt.deliver,
            stream.request_keyframe,
            name=f"push-{self.media_session_id[:8]}",
        )
        if video is not None and self.manager.keyframe_interval > 0:
            attempt.pacer = KeyframePacer(self.manager.keyframe_interval * 1000)
        # The hub first replays the access units since the last keyframe; without one
        # cached, ask the source (rate-limited upstream: PLI, FIR, SIP INFO).
        attempt.subscription = stream.subscribe_frames(attempt)
        if video is not None and stream.cached_keyframe is None:
            stream.request_keyframe()

    def _shared_aac(self, attempt: Attempt, codec: str | None) -> bytes | None:
        """Join the stream's shared AAC stage when this push sends AAC; its config."""
        stages = self.manager.aac_stages
        passthrough = self.manager.g711_passthrough and (codec or "").upper() in ("PCMU", "PCMA")
        if stages is None or codec is None or passthrough:
            return None
        try:
            track, attempt.aac_subscription = stages.acquire(attempt.stream, attempt)
        except ValueError:  # audio the stage cannot take: the pipeline decides as before
            return None
        return track.asc

    def _detach(self, attempt: Attempt) -> None:
        attempt.live = False
        if attempt.aac_subscription is not None:
            attempt.aac_subscription.cancel()
        if attempt.subscription is not None:
            attempt.subscription.cancel()
        if attempt.worker is not None:
            attempt.worker.close()
        if self._attempt is attempt:
            self._attempt = None

    def _set(self, status: PushStatus, info: str | None) -> None:
        if status == self.status and info == self.info:
            return
        self.status = status
        self.info = info
        log.info(
            "push %s (%s -> %s): %s%s",
            self.media_session_id,
            self.source,
            self.target.tc_url,
            status.value,
            f" ({info})" if info else "",
        )
        self.manager.emit(self)
