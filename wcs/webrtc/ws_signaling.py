"""The asyncio edge of the WCS WebSocket protocol: one :class:`WcsSession` per connection.

A reader task feeds received text frames to the session; a :class:`wcs.sansio.Pump`
flushes it and arms its one ping timer; the connection's own task turns the session's
events into :class:`Playback` calls and writes the frames. Viewers end on their own (call
hung up, ICE/DTLS failure); their end is written to the session
(``notifyStreamStatusEvent`` STOPPED/FAILED) from the viewer's callback. When the
WebSocket closes, every viewer of the session is stopped. The REST hooks of a player
(``StreamStatusEvent`` to the session's appKey) come from the viewer itself
(:mod:`wcs.webrtc.viewer`); plays the session refuses on its own are reported here.

PLAYING is sent right after ``setRemoteSDP`` (not after DTLS connects): the Player page
enables its Stop button on PLAYING, and a viewer whose ICE/DTLS then fails gets FAILED
with the peer's info string.

Limits: at most ``max_viewers_per_session`` plays of one WebSocket at a time, and the
``viewer_quota`` per source IP over all its sessions; a play over either is FAILED with an
info naming the limit (one rate-limited log line, ``wcs_limit_rejections_total``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Coroutine
from typing import Any

from wcs.app.stream import StreamStatus
from wcs.limits import Declared, Quota, refuse
from wcs.rest.ws import WebSocketConnection
from wcs.sansio import Pump

from .publisher import UNPUBLISHED_BY_SESSION, Ingest, PublishError
from .signaling import (
    AvailabilityRequested,
    PlayRefused,
    PlayRequested,
    PublishRequested,
    StopRequested,
    UnpublishRequested,
    WcsSession,
)
from .viewer import STOPPED_BY_SESSION, STREAM_NOT_FOUND, Playback, PlaybackError

log = logging.getLogger(__name__)

_ids = itertools.count(1)


class SignalingServer:
    """The ``ws_port`` handler: ``WebSocketServer(signaling.handle, ...)``."""

    def __init__(
        self,
        playback: Playback,
        *,
        ingest: Ingest | None = None,
        ping_interval: float = 5.0,
        max_missed: int = 10,
        server_address: str = "",
        max_viewers_per_session: int = 0,
        viewer_quota: Quota | None = None,
    ) -> None:
        self.playback = playback
        self.ingest = ingest
        self.max_viewers_per_session = max_viewers_per_session  # 0: unlimited
        Declared("ws_viewers_per_session", max_viewers_per_session)
        self.viewer_quota = viewer_quota or Quota("viewers", 0, 0)
        self.ping_interval = ping_interval
        self.max_missed = max_missed
        self.server_address = server_address
        self.sessions: dict[str, WcsSession] = {}

    async def handle(self, ws: WebSocketConnection) -> None:
        remote = f"{ws.remote[0]}:{ws.remote[1]}" if ws.remote else f"client{next(_ids)}"
        session_id = f"/{remote}/{self.server_address}"
        if session_id in self.sessions:
            session_id += f"#{next(_ids)}"
        session = WcsSession(
            session_id,
            asyncio.get_running_loop().time(),
            ping_interval=self.ping_interval,
            max_missed=self.max_missed,
        )
        self.sessions[session_id] = session
        conn = _Connection(self, ws, session)
        try:
            await conn.run()
        finally:
            self.sessions.pop(session_id, None)
            await conn.cleanup()


class _Connection:
    """One WebSocket: the reader feeds the session, a :class:`Pump` flushes it and arms its
    ping timer, and this task (the connection's own) handles events in order and writes."""

    def __init__(self, server: SignalingServer, ws: WebSocketConnection, session: WcsSession):
        self.server = server
        self.playback = server.playback
        self.ws = ws
        self.session = session
        self.wake = asyncio.Event()
        self.closed = False
        self.tasks: set[asyncio.Task[None]] = set()
        self.mine: set[str] = set()  # media session ids of this connection's viewers
        self.publishing: set[str] = set()  # ... and of its publishers
        self.admitted: set[str] = set()  # plays holding a place in the viewer limits
        self.ip = ws.remote[0] if ws.remote else "?"
        self.stopped_early: set[str] = set()  # stopStream before the answer was ready
        self.outbox: list[str] = []
        self.inbox: deque[object] = deque()
        self.pump = Pump(session, self._transmit, self._queue_event)

    def _transmit(self, now: float) -> None:
        # Sending a WebSocket frame awaits; the connection's task writes what is queued.
        out = self.session.data_to_send(now)
        if out or self.session.closed_reason:
            self.outbox.extend(out)
            self.wake.set()

    def _queue_event(self, event: object) -> None:
        self.inbox.append(event)  # handled in order by the connection's task (some await)
        self.wake.set()

    async def run(self) -> None:
        reader = asyncio.create_task(self._read())
        try:
            self.pump.wake()  # arms the ping timer
            await self._loop()
        finally:
            self.pump.close()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _read(self) -> None:
        while (msg := await self.ws.receive()) is not None:
            if isinstance(msg, str):  # binary frames mean nothing to a WebRTC player
                self.session.receive_text(msg, self.pump.now())
                self.pump.wake()
        self.closed = True
        self.wake.set()

    async def _loop(self) -> None:
        session = self.session
        while True:
            self.wake.clear()
            while self.inbox:
                await self._handle(self.inbox.popleft())
            self.pump.wake()  # what the handlers made the session say
            await self._flush()
            if self.closed or self.ws.closed:
                return
            if session.closed_reason:
                log.info("signaling %s: %s", session.session_id, session.closed_reason)
                return
            if not self.inbox:
                await self.wake.wait()

    async def _handle(self, event: object) -> None:
        session = self.session
        if isinstance(event, PlayRequested):
            self._spawn(self._play(event))
        elif isinstance(event, StopRequested):
            await self._stop(event)
        elif isinstance(event, PublishRequested):
            self._spawn(self._publish(event))
        elif isinstance(event, UnpublishRequested):
            await self._unpublish(event)
        elif isinstance(event, PlayRefused):
            self.playback.report_refused(
                event.name,
                event.media_session_id,
                event.info,
                app_key=session.app_key,
                session_id=session.session_id,
            )
        elif isinstance(event, AvailabilityRequested):
            stream = self.playback.hub.get(event.name)
            ok = stream is not None and stream.published
            info = None if ok else STREAM_NOT_FOUND
            session.available(event.media_session_id, ok, info)

    async def _flush(self) -> None:
        out, self.outbox = self.outbox, []
        for text in out:
            await self.ws.send_text(text)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _admit(self, msid: str) -> str | None:
        """Take a viewer place for ``msid``; the refusal's info when over a limit."""
        limit = self.server.max_viewers_per_session
        if limit and len(self.admitted) >= limit:
            refuse("ws_viewers_per_session", f"session {self.session.session_id}")
            return f"Too many viewers in this session (limit {limit})"
        quota = self.server.viewer_quota
        if not quota.admit(self.ip):
            return f"Too many viewers from this address (limit {quota.per_key})"
        self.admitted.add(msid)
        return None

    def _release(self, msid: str) -> None:
        if msid in self.admitted:
            self.admitted.discard(msid)
            self.server.viewer_quota.release(self.ip)

    def _tell(self, msid: str, status: StreamStatus, info: str) -> None:
        """The status of a play or publication, if the browser still has it open."""
        if msid in self.session.plays:
            self.session.stream_status(msid, status, info)
        self.pump.wake()

    def _answer(self, msid: str, answer: str, status: StreamStatus) -> None:
        self.session.remote_sdp(msid, answer)
        self.session.stream_status(msid, status)
        self.pump.wake()

    async def _play(self, event: PlayRequested) -> None:
        msid = event.media_session_id
        session = self.session
        refused = self._admit(msid)
        if refused is not None:
            self._tell(msid, StreamStatus.FAILED, refused)
            return

        def ended(status: StreamStatus, info: str) -> None:
            self._release(msid)
            self.mine.discard(msid)
            self._tell(msid, status, info)

        try:
            viewer, answer = await self.playback.play(
                event.name,
                event.sdp,
                msid,
                provider="WebRTC",
                app_key=session.app_key,
                session_id=session.session_id,
                on_end=ended,
            )
        except PlaybackError as exc:
            self._release(msid)
            self._tell(msid, StreamStatus.FAILED, exc.info)
            return
        self.mine.add(msid)
        if msid in self.stopped_early or self.closed:
            self.stopped_early.discard(msid)
            self._release(msid)
            await viewer.close()
            return
        self._answer(msid, answer, StreamStatus.PLAYING)

    async def _stop(self, event: StopRequested) -> None:
        msid = event.media_session_id
        if msid in self.mine and await self.playback.stop(msid):
            return  # the viewer's end callback sends STOPPED
        if msid in self.session.plays:
            self.stopped_early.add(msid)  # answer still being made: drop it when ready
        # The SDK waits for STOPPED after every stopStream (spec §1.6).
        self.session.stream_status(msid, StreamStatus.STOPPED, "Stopped by user", name=event.name)

    async def _publish(self, event: PublishRequested) -> None:
        msid = event.media_session_id
        session = self.session

        def ended(status: StreamStatus, info: str) -> None:
            self.publishing.discard(msid)
            self._tell(msid, status, info)

        if self.server.ingest is None:
            session.stream_status(msid, StreamStatus.FAILED, "Publishing is not enabled")
            self.pump.wake()
            return
        try:
            publisher, answer = await self.server.ingest.publish(
                event.name,
                event.sdp,
                provider="WebRTC",
                app_key=session.app_key,
                session_id=session.session_id,
                media_session_id=msid,
                on_end=ended,
            )
        except PublishError as exc:
            self._tell(msid, StreamStatus.FAILED, exc.info)
            return
        self.publishing.add(msid)
        if msid not in session.plays or self.closed:  # unPublishStream came first
            await publisher.stop(StreamStatus.UNPUBLISHED, UNPUBLISHED_BY_SESSION)
            return
        self._answer(msid, answer, StreamStatus.PUBLISHING)

    async def _unpublish(self, event: UnpublishRequested) -> None:
        msid = event.media_session_id
        ingest = self.server.ingest
        if msid in self.publishing and ingest is not None and await ingest.stop(msid):
            return  # the publisher's end callback sends UNPUBLISHED
        # Not (yet) publishing: answer now; a publish still being set up is dropped.
        self.session.stream_status(
            msid, StreamStatus.UNPUBLISHED, "Unpublished by user", name=event.name
        )

    async def cleanup(self) -> None:
        self.closed = True
        for task in list(self.tasks):
            with contextlib.suppress(Exception):
                await task
        for msid in list(self.mine):
            await self.playback.stop(msid, STOPPED_BY_SESSION)
        self.mine.clear()
        for msid in list(self.publishing):
            if self.server.ingest is not None:
                await self.server.ingest.stop(msid, UNPUBLISHED_BY_SESSION)
        self.publishing.clear()
        for msid in list(self.admitted):
            self._release(msid)
