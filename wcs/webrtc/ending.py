"""Ending a viewer or a publisher exactly once, from any path (sync callback or await).

:class:`EndsOnce` is the shared part of :class:`wcs.webrtc.viewer.Viewer` and
:class:`wcs.webrtc.publisher.Publisher`: the first ``close(status, info)`` releases what the
owner holds (``_release``: subscription, peer, port), forgets it (``_forget``), then reports
(``_report``) and calls ``on_end(status, info)`` once; a later ``close`` waits for that.
``close_soon`` does the same from a synchronous callback (peer state, stream end).

:class:`Registry` is the shared part of their owners (:class:`wcs.webrtc.viewer.Playback`,
:class:`wcs.webrtc.publisher.Ingest`): the live ones by mediaSessionId, stopping one, and
ending them all at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from wcs.app.stream import StreamStatus

log = logging.getLogger(__name__)

# (status, info) once ended; status is STOPPED/UNPUBLISHED or FAILED.
EndCallback = Callable[[StreamStatus, str], None]


class EndsOnce:
    label = "peer"
    media_session_id: str  # the key of its owner's registry

    def __init__(self, background: set[asyncio.Future[None]], on_end: EndCallback | None) -> None:
        self.on_end = on_end
        self.status: StreamStatus = StreamStatus.PENDING
        self.info: str | None = None
        self._background = background
        self._closing = False
        self._closed = asyncio.Event()

    async def _release(self) -> None:
        """Free what is held (may raise: the rest of the end goes on)."""

    def _forget(self) -> None:
        """Leave the owner's registry."""

    def _report(self) -> None:
        """Tell whoever watches (hooks) about the final status."""

    def close_soon(self, status: StreamStatus, info: str) -> None:
        """Close from a synchronous callback."""
        if self._closing:
            return
        task = asyncio.ensure_future(self.close(status, info))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self, status: StreamStatus, info: str) -> None:
        """Idempotent; every resource is freed and ``on_end`` is called exactly once."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        self.status, self.info = status, info
        try:
            await self._release()
        except Exception:  # freeing must go on whatever a part does
            log.exception("%s: error while closing", self.label)
        finally:
            self._forget()
            self._closed.set()
        log.info("%s: %s (%s)", self.label, status, info)
        self._report()
        if self.on_end is not None:
            try:
                self.on_end(status, info)
            except Exception:
                log.exception("%s: on_end callback failed", self.label)


E = TypeVar("E", bound=EndsOnce)


class Registry(Generic[E]):
    """The live ones of an owner, ``items`` by mediaSessionId (each leaves by its own
    ``_forget`` once ended); ``stop_status`` is how a stop or a shutdown ends one."""

    def __init__(self, items: dict[str, E], stop_status: StreamStatus) -> None:
        self._items = items
        self._stop_status = stop_status
        self.background: set[asyncio.Future[None]] = set()

    def get(self, media_session_id: str) -> E | None:
        return self._items.get(media_session_id)

    async def stop(self, media_session_id: str, info: str) -> bool:
        """End one (its owner is told); False when there is none by that id."""
        item = self._items.get(media_session_id)
        if item is None:
            return False
        await item.close(self._stop_status, info)
        return True

    def _forget(self, item: E) -> None:
        if self._items.get(item.media_session_id) is item:
            del self._items[item.media_session_id]

    async def _end_all(self, info: str) -> None:
        """Shutdown: every one ends (its owner is told), every port is freed."""
        await asyncio.gather(
            *(i.close(self._stop_status, info) for i in list(self._items.values())),
            return_exceptions=True,
        )
        if self.background:
            await asyncio.gather(*self.background, return_exceptions=True)
