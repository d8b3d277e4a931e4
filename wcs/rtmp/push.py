"""Push jobs ("transponders" in WCS): republish a named stream to an RTMP server.

A :class:`PushJob` follows one source stream of the stream hub. It may be created before the
stream exists (``/push/startup`` may come before the SIP call's media): it waits PENDING
until the hub publishes the name and knows its tracks, then connects, subscribes to the
stream's frames (the hub hands a late subscriber the access units since the last keyframe
first, so the push starts on a decodable picture) and is PUBLISHING.

Modules: ``push`` (this one: the manager and its registry), ``push_job`` (a job's life),
``push_attempt`` (one connection). Per attempt: one :class:`RtmpPublisher` (the socket)
and one :class:`PipelineWorker` (the frame → FLV conversion on its own thread). A server
that refuses or closes, or a broken connection, ends the attempt: the push is FAILED with
the server's reason and, when the reconnect setting allows, tries again after a back-off
(:class:`ReconnectPolicy`); a push that published again starts its count afresh. The
source stream's end stops the push (STOPPED, "Stopped by publisher stop"); so does
``/push/terminate`` ("Stopped by rest /terminate"). A stopped push, or a failed one without
attempts left, leaves the registry, as WCS forgets finished objects (``/push/find`` then
answers 404, which the demo pages take as "push over").

Every status change is a ``StreamStatusEvent`` REST hook for the source's appKey (the
transponder object plus ``status``/``info``) and goes to :meth:`PushManager.watch` callbacks.

Direct SIP-as-RTMP (``/call/startup`` with ``rtmpUrl``): when the hub publishes a call's
stream and ``call_lookup`` says the call asked for RTMP, a push is made at once with the
call's ``rtmpStream`` as the published name (no prefix; the stream's own name when absent).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from wcs.app.errors import RequestError
from wcs.app.hooks import HookPublisher
from wcs.app.stream import CallbackSet
from wcs.app.streams import Stream, StreamHub, Subscription
from wcs.media.sound import SoundCursor, decode, resolve
from wcs.rest.views import push_event_json

from .client import RtmpPublisher
from .connection import DEFAULT_FLASH_VERSION
from .errors import RtmpError
from .push_job import (
    STOPPED_BY_PUBLISHER,
    STOPPED_BY_REST,
    STOPPED_BY_SHUTDOWN,
    PushJob,
    PushRequest,
    PushStatus,
)
from .reconnect import ReconnectPolicy
from .url import DEFAULT_STREAM_PREFIX, push_target

if TYPE_CHECKING:
    from wcs.app.aac_stage import AacStages

log = logging.getLogger(__name__)

CallLookup = Callable[[str], "tuple[str, str | None] | None"]  # call id -> (rtmpUrl, rtmpStream)
PublisherFactory = Callable[..., RtmpPublisher]


class PushManager:
    def __init__(
        self,
        hub: StreamHub,
        *,
        policy: ReconnectPolicy | None = None,
        flash_version: str = DEFAULT_FLASH_VERSION,
        prefix: str = DEFAULT_STREAM_PREFIX,
        g711_passthrough: bool = False,
        hooks: HookPublisher | None = None,
        call_lookup: CallLookup | None = None,
        publisher_factory: PublisherFactory = RtmpPublisher,
        keyframe_interval: float = 0.0,
        source_timeout: float = 0.0,
        sounds_dir: str = "sounds",
        aac_stages: AacStages | None = None,
    ) -> None:
        self.hub = hub
        self.aac_stages = aac_stages  # None: each push encodes its own AAC
        self.sounds_dir = sounds_dir
        self.policy = policy or ReconnectPolicy()
        self.flash_version = flash_version
        self.prefix = prefix
        self.g711_passthrough = g711_passthrough
        self.hooks = hooks
        self.call_lookup = call_lookup
        self.publisher_factory = publisher_factory
        self.keyframe_interval = keyframe_interval  # s; 0: only at the start
        self.source_timeout = source_timeout  # s a push waits for its source; 0: no limit
        self._watchers: CallbackSet[Callable[[PushJob], None]] = CallbackSet()
        self._jobs: dict[str, PushJob] = {}
        self._hub_watch = hub.watch(self._on_stream)

    def watch(self, callback: Callable[[PushJob], None]) -> Subscription:
        """``callback(job)`` on every status change of every push."""
        return self._watchers.add(callback)

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
        self.emit(job)  # PENDING: the transponder exists
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
        self._hub_watch.cancel()

    # -- hub side ----------------------------------------------------------------------------

    def _on_stream(self, stream: Stream) -> None:
        name = stream.name
        if not stream.published:
            for job in list(self._jobs.values()):
                if job.source == name:
                    job.source_ended(stream.info or "")
            return
        for job in self._jobs.values():
            if job.source == name:
                job.app_key = stream.app_key
                job.source_changed()
        if stream.call_id and self.call_lookup is not None:
            self._direct(stream)

    def _direct(self, stream: Stream) -> None:
        call_id = stream.call_id
        wanted = self.call_lookup(call_id) if self.call_lookup and call_id else None
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

    def emit(self, job: PushJob) -> None:
        """A job's status changed: the hook, then the watchers."""
        if self.hooks is not None:
            self.hooks.post(job.app_key, "StreamStatusEvent", push_event_json(job))
        for callback in self._watchers.items:
            try:
                callback(job)
            except Exception:
                log.exception("push watcher failed")

    def forget(self, job: PushJob) -> None:
        """A job ended: it leaves the registry."""
        if self._jobs.get(job.media_session_id) is job:
            del self._jobs[job.media_session_id]


__all__ = [
    "STOPPED_BY_PUBLISHER",
    "STOPPED_BY_REST",
    "STOPPED_BY_SHUTDOWN",
    "PushJob",
    "PushManager",
    "PushRequest",
    "PushStatus",
]
