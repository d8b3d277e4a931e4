"""Push jobs ("transponders" in WCS): republish a named stream to an RTMP server.

A :class:`PushJob` follows one source stream of the stream hub. It may be created before the
stream exists (``/push/startup`` may come before the SIP call's media): it waits PENDING
until the hub publishes the name and knows its tracks, then connects, subscribes to the
stream's frames (the hub hands a late subscriber the access units since the last keyframe
first, so the push starts on a decodable picture) and is PUBLISHING.

Per attempt: one :class:`RtmpPublisher` (the socket) and one :class:`PipelineWorker` (the
frame → FLV conversion on its own thread). A server that refuses or closes, or a broken
connection, ends the attempt: the push is FAILED with the server's reason and, when the
reconnect setting allows, tries again after a back-off (:class:`ReconnectPolicy`); a push
that published again starts its count afresh. The source stream's end stops the push
(STOPPED, "Stopped by publisher stop"); so does ``/push/terminate`` ("Stopped by rest
/terminate"). A stopped push, or a failed one without attempts left, leaves the registry,
as WCS forgets finished objects (``/push/find`` then answers 404, which the demo pages take
as "push over").

Every status change is a ``StreamStatusEvent`` REST hook for the source's appKey (the
transponder object plus ``status``/``info``) and goes to :attr:`PushManager.listeners`.

Direct SIP-as-RTMP (``/call/startup`` with ``rtmpUrl``): when the hub publishes a call's
stream and ``call_lookup`` says the call asked for RTMP, a push is made at once with the
call's ``rtmpStream`` as the published name (no prefix; the stream's own name when absent).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from wcs.app.errors import RequestError
from wcs.app.hooks import HookPublisher
from wcs.media.sound import SoundCursor, decode, resolve

from . import events as ev
from .client import RtmpPublisher, RtmpPublishError
from .connection import DEFAULT_FLASH_VERSION
from .errors import RtmpError
from .keyframes import KeyframePacer
from .muxer import FlvTag
from .pipeline import PushPipeline
from .reconnect import ReconnectPolicy
from .url import DEFAULT_STREAM_PREFIX, RtmpTarget, push_target
from .worker import PipelineWorker

log = logging.getLogger(__name__)

STOPPED_BY_REST = "Stopped by rest /terminate"
STOPPED_BY_PUBLISHER = "Stopped by publisher stop"
STOPPED_BY_SHUTDOWN = "Stopped by server shutdown"


class PushStatus(enum.StrEnum):
    PENDING = "PENDING"  # waiting for the source stream, or connecting
    PUBLISHING = "PUBLISHING"
    FAILED = "FAILED"  # the server refused or the connection broke (may retry)
    STOPPED = "STOPPED"


# -- what the push needs from the stream hub (wcs.app.streams) -----------------------------------


class Closable(Protocol):
    def close(self) -> None: ...


class SourceStream(Protocol):
    name: str
    app_key: str
    call_id: str | None
    tracks: dict[str, Any]  # kind -> TrackInfo (.codec, .width, .height)
    track_listeners: list[Callable[[Any], None]]

    @property
    def status(self) -> Any: ...  # StreamStatus (a str enum)
    def subscribe_frames(self, sink: Any) -> Closable: ...
    def request_keyframe(self) -> None: ...


class StreamSource(Protocol):
    listeners: list[Callable[[Any], None]]

    def get(self, name: str) -> Any: ...  # SourceStream | None


CallLookup = Callable[[str], "tuple[str, str | None] | None"]  # call id -> (rtmpUrl, rtmpStream)
PublisherFactory = Callable[..., RtmpPublisher]


@dataclass(slots=True)
class PushRequest:
    """The validated fields of ``/push/startup`` (or of a direct SIP-as-RTMP call)."""

    stream_name: str  # the source stream
    rtmp_url: str
    full_url: bool = False
    flash_version: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    muted: bool = False
    published_name: str | None = None  # overrides prefix + stream_name (SIP-as-RTMP)
    call_id: str | None = None


class _Ended(enum.Enum):
    STOP = "stop"  # terminate / shutdown / source ended: no retry
    RESTART = "restart"  # the source's track set changed: reconnect at once


@dataclass(slots=True)
class _Attempt:
    """One connection's worth of state; frames for a finished attempt are ignored."""

    job: PushJob
    stream: Any
    publisher: RtmpPublisher
    kinds: frozenset[str]
    worker: PipelineWorker | None = None
    pacer: KeyframePacer | None = None
    subscription: Closable | None = None
    done: asyncio.Future[str | _Ended] | None = None
    live: bool = True

    # FrameSink (called on the event loop by the hub; never blocks)
    def on_video(self, au: Any, pts_ms: float) -> None:
        if self.live and self.worker is not None:
            self.worker.put_video(pts_ms, au.nals, au.keyframe)
            if self.pacer is not None and self.pacer.on_frame(pts_ms, au.keyframe):
                self.stream.request_keyframe()

    def on_audio(self, frame: Any, pts_ms: float) -> None:
        if self.live and self.worker is not None:
            self.worker.put_audio(pts_ms, frame.codec, frame.payload)

    def on_stream_end(self, reason: str) -> None:
        if self.live:
            self.job._source_ended(reason)

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

    def end(self, outcome: str | _Ended) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(outcome)


class PushJob:
    def __init__(self, manager: PushManager, request: PushRequest, target: RtmpTarget) -> None:
        self.manager = manager
        self.request = request
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
        self._attempt: _Attempt | None = None
        self._stop_reason: str | None = None
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watched: Any = None

    # -- public ------------------------------------------------------------------------------

    @property
    def stream_name(self) -> str:
        """The name published on the RTMP server (``rtmp_<source>`` by default)."""
        return self.target.stream

    @property
    def source(self) -> str:
        return self.request.stream_name

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"push-{self.media_session_id}"
        )

    def stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
        self._kick.set()
        if self._attempt is not None:
            self._attempt.end(_Ended.STOP)

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

    def to_json(self) -> dict[str, Any]:
        """The WCS Transponder object (spec §2.3) plus our status fields."""
        return {
            "mediaSessionId": self.media_session_id,
            "streamName": self.stream_name,
            "sourceStreamName": self.source,
            "rtmpUrl": self.request.rtmp_url,
            "rtmpTransponderFullUrl": self.request.full_url,
            "width": self.width,
            "height": self.height,
            "muted": self.muted,
            "soundEnabled": self.sound_enabled,
            "options": self.request.options,
            "status": self.status.value,
            "info": self.info,
            "callId": self.request.call_id,
            "reconnects": self.reconnects,
            "mediaStats": self.stats(),
            "createDate": int(self.created * 1000),
        }

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
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

    def event_json(self) -> dict[str, Any]:
        """The StreamStatusEvent hook body for this push."""
        body = self.to_json()
        body.update(
            name=self.stream_name,
            appKey=self.app_key,
            published=True,
            mediaProvider="RTMP",
            hasVideo=self.width > 0,
        )
        return body

    # -- hub side ----------------------------------------------------------------------------

    def _source_changed(self) -> None:
        """The hub (re)published our source or learnt its tracks."""
        self._kick.set()
        attempt = self._attempt
        if attempt is not None and attempt.live:
            kinds = frozenset(attempt.stream.tracks)
            if kinds and kinds != attempt.kinds:
                attempt.end(_Ended.RESTART)

    def _source_ended(self, reason: str) -> None:
        self.stop(STOPPED_BY_PUBLISHER)

    # -- the job's task ----------------------------------------------------------------------

    async def _run(self) -> None:
        final = PushStatus.STOPPED
        try:
            while self._stop_reason is None:
                stream = await self._wait_source()
                if stream is None:
                    break
                outcome = await self._publish(stream)
                if self._stop_reason is not None:
                    break
                if outcome is _Ended.RESTART:
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
            self.manager._forget(self)

    async def _wait_source(self) -> Any:
        """The source stream once it is published with known tracks; None when stopped."""
        hub = self.manager.hub
        while self._stop_reason is None:
            self._kick.clear()
            stream = hub.get(self.source)
            if stream is not None and str(stream.status) == "PUBLISHING":
                if stream.tracks:
                    self._watch(stream)
                    return stream
                self._watch(stream)
            await self._kick.wait()
        return None

    def _watch(self, stream: Any) -> None:
        """Follow the stream's track changes (learnt late, or a generated track added)."""
        if self._watched is not stream:
            self._unwatch()
            stream.track_listeners.append(self._on_tracks)
            self._watched = stream

    def _unwatch(self) -> None:
        if self._watched is not None:
            if self._on_tracks in self._watched.track_listeners:
                self._watched.track_listeners.remove(self._on_tracks)
            self._watched = None

    def _on_tracks(self, stream: Any) -> None:
        self._source_changed()

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

    async def _publish(self, stream: Any) -> str | _Ended:
        m = self.manager
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str | _Ended] = loop.create_future()

        def on_failure(failure: ev.Failed) -> None:  # the server dropped us while publishing
            if not done.done():
                done.set_result(failure_text(failure))

        pub = m.publisher_factory(
            self.target,
            flash_version=self.request.flash_version or m.flash_version,
            on_failure=on_failure,
        )
        attempt = _Attempt(self, stream, pub, frozenset(stream.tracks), done=done)
        self._attempt = attempt
        self._set(PushStatus.PENDING, "Connecting")
        try:
            connect = loop.create_task(pub.connect())
            waiters: list[asyncio.Future[Any]] = [connect, done]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not connect.done():  # stopped while connecting
                connect.cancel()
                await asyncio.gather(connect, return_exceptions=True)
                await pub.close(timeout=0.5)
                return _Ended.STOP
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

    def _attach(self, attempt: _Attempt, loop: asyncio.AbstractEventLoop) -> None:
        stream = attempt.stream
        tracks = stream.tracks
        audio = tracks.get("audio")
        video = tracks.get("video")
        pipeline = PushPipeline(
            video=video is not None,
            audio_codec=audio.codec if audio is not None else None,
            g711_passthrough=self.manager.g711_passthrough,
            muted=self.muted,
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
        if video is not None and getattr(stream, "cached_keyframe", None) is None:
            stream.request_keyframe()

    def _detach(self, attempt: _Attempt) -> None:
        attempt.live = False
        if attempt.subscription is not None:
            attempt.subscription.close()
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
        self.manager._emit(self)


def failure_text(failure: ev.Failed) -> str:
    """The server's reason as WCS-style info text."""
    text = f"Failed by RTMP writer error: {failure.stage}"
    if failure.code:
        text += f" {failure.code}"
    if failure.description:
        text += f" ({failure.description})"
    return text


class PushManager:
    def __init__(
        self,
        hub: StreamSource,
        *,
        policy: ReconnectPolicy | None = None,
        flash_version: str = DEFAULT_FLASH_VERSION,
        prefix: str = DEFAULT_STREAM_PREFIX,
        g711_passthrough: bool = False,
        hooks: HookPublisher | None = None,
        call_lookup: CallLookup | None = None,
        publisher_factory: PublisherFactory = RtmpPublisher,
        keyframe_interval: float = 0.0,
        sounds_dir: str = "sounds",
    ) -> None:
        self.hub = hub
        self.sounds_dir = sounds_dir
        self.policy = policy or ReconnectPolicy()
        self.flash_version = flash_version
        self.prefix = prefix
        self.g711_passthrough = g711_passthrough
        self.hooks = hooks
        self.call_lookup = call_lookup
        self.publisher_factory = publisher_factory
        self.keyframe_interval = keyframe_interval  # s; 0: only at the start
        self.listeners: list[Callable[[PushJob], None]] = []
        self._jobs: dict[str, PushJob] = {}
        hub.listeners.append(self._on_stream)

    # -- REST side ---------------------------------------------------------------------------

    def startup(self, request: PushRequest) -> PushJob:
        """Create and start a push. RequestError 400 (bad rtmpUrl) or 409 (same stream and
        rtmpUrl already pushed)."""
        try:
            if request.published_name is not None:
                target = push_target(request.rtmp_url, request.published_name, False, "")
            else:
                target = push_target(
                    request.rtmp_url, request.stream_name, request.full_url, self.prefix
                )
        except RtmpError as exc:
            raise RequestError(400, f"rtmpUrl: {exc}", "rtmpUrl") from None
        for job in self._jobs.values():
            if job.source == request.stream_name and job.request.rtmp_url == request.rtmp_url:
                raise RequestError(
                    409, "a transponder for this stream and rtmpUrl exists", "rtmpUrl"
                )
            if (job.target.tc_url, job.target.stream) == (target.tc_url, target.stream):
                raise RequestError(409, "another push already publishes this name there", "rtmpUrl")
        job = PushJob(self, request, target)
        stream = self.hub.get(request.stream_name)
        if stream is not None:
            job.app_key = stream.app_key
        self._jobs[job.media_session_id] = job
        job.start()
        self._emit(job)  # PENDING: the transponder exists
        return job

    def get(self, media_session_id: str) -> PushJob | None:
        return self._jobs.get(media_session_id)

    def all(self) -> list[PushJob]:
        return list(self._jobs.values())

    def find(
        self,
        stream_name: str | None = None,
        rtmp_url: str | None = None,
        media_session_id: str | None = None,
    ) -> list[PushJob]:
        """``stream_name`` matches the published name (what the demos poll with:
        ``rtmp_<name>``) or the source stream's name."""
        out = []
        for job in self._jobs.values():
            if stream_name is not None and stream_name not in (job.stream_name, job.source):
                continue
            if rtmp_url is not None and job.request.rtmp_url != rtmp_url:
                continue
            if media_session_id is not None and job.media_session_id != media_session_id:
                continue
            out.append(job)
        return out

    def terminate(self, media_session_id: str, reason: str = STOPPED_BY_REST) -> bool:
        job = self._jobs.get(media_session_id)
        if job is None:
            return False
        job.stop(reason)
        return True

    def mute(self, media_session_id: str, muted: bool = True) -> bool:
        job = self._jobs.get(media_session_id)
        if job is None:
            return False
        job.set_muted(muted)
        return True

    async def sound_on(self, media_session_id: str, sound_file: str, loop: bool) -> bool:
        """Replace the push's outgoing audio with ``sound_file`` (a name in ``sounds_dir``).
        False: no such push (404); SoundError: an unusable file (400), the push untouched.
        The file is decoded in a thread, off the event loop."""
        if media_session_id not in self._jobs:
            return False
        path = resolve(self.sounds_dir, sound_file)
        clip = await asyncio.to_thread(decode, path, sound_file)
        job = self._jobs.get(media_session_id)
        if job is None:  # ended while we decoded
            return False
        job.set_sound(SoundCursor(clip, loop))
        what = f"{clip.seconds:.1f} s" + (", looped" if loop else "")
        log.info("push %s: sound %r on (%s)", media_session_id, sound_file, what)
        return True

    def sound_off(self, media_session_id: str) -> bool:
        job = self._jobs.get(media_session_id)
        if job is None:
            return False
        job.set_sound(None)
        return True

    async def close(self) -> None:
        """Shutdown: every push unpublishes politely."""
        jobs = list(self._jobs.values())
        for job in jobs:
            job.stop(STOPPED_BY_SHUTDOWN)
        await asyncio.gather(*(job.wait_closed() for job in jobs))
        if self._on_stream in self.hub.listeners:
            self.hub.listeners.remove(self._on_stream)

    # -- hub side ----------------------------------------------------------------------------

    def _on_stream(self, stream: Any) -> None:
        name = stream.name
        if str(stream.status) != "PUBLISHING":
            for job in list(self._jobs.values()):
                if job.source == name:
                    job._source_ended(stream.info or "")
            return
        for job in self._jobs.values():
            if job.source == name:
                job.app_key = stream.app_key
                job._source_changed()
        if stream.call_id and self.call_lookup is not None:
            self._direct(stream)

    def _direct(self, stream: Any) -> None:
        wanted = self.call_lookup(stream.call_id) if self.call_lookup else None
        if wanted is None:
            return
        rtmp_url, rtmp_stream = wanted
        if any(j.request.call_id == stream.call_id for j in self._jobs.values()):
            return
        request = PushRequest(
            stream.name, rtmp_url, published_name=rtmp_stream or stream.name, call_id=stream.call_id
        )
        try:
            self.startup(request)
        except RequestError as exc:
            log.warning("call %s: cannot republish to RTMP: %s", stream.call_id, exc)

    # -- internals ---------------------------------------------------------------------------

    def _emit(self, job: PushJob) -> None:
        if self.hooks is not None:
            self.hooks.post(job.app_key, "StreamStatusEvent", job.event_json())
        for listener in list(self.listeners):
            try:
                listener(job)
            except Exception:
                log.exception("push listener failed")

    def _forget(self, job: PushJob) -> None:
        if self._jobs.get(job.media_session_id) is job:
            del self._jobs[job.media_session_id]
