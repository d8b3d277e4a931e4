"""The one place a publisher talks to the stream hub: publish, unpublish, and the sink its
:class:`wcs.app.stream_feed.StreamFeed` feeds (``feed_rtp/video/audio``). Used by a call's
media and by a WebRTC/WHIP publisher (:mod:`wcs.webrtc.publisher`).

The core only decides *when* to publish (:class:`StreamOutlet`); this adapter knows how the
hub spells it, so a change of the hub's API is a change of this module only.
"""

from __future__ import annotations

import logging

from wcs.app.streams import (
    Publication,
    PublisherControl,
    StreamExists,
    StreamHub,
    StreamStatus,
    TrackInfo,
)

log = logging.getLogger(__name__)


class HubOutlet:
    """Stream ``name`` on ``hub``; ``control`` is what the hub may ask of the publisher.

    ``call_id`` names a call's stream; a WebRTC publisher has none but its WCS ``provider``
    and session ids instead (see :meth:`wcs.app.streams.StreamHub.publish`).
    """

    def __init__(
        self,
        hub: StreamHub,
        name: str,
        control: PublisherControl,
        *,
        call_id: str | None,
        app_key: str,
        provider: str = "SIP",
        session_id: str | None = None,
        media_session_id: str | None = None,
    ) -> None:
        self.hub = hub
        self.name = name
        self.control = control
        self.call_id = call_id
        self.app_key = app_key
        self._ids = (provider, session_id, media_session_id)
        self.publication: Publication | None = None  # ours while published
        self.takes_over = False  # the name is another call's until it ends (a transfer)

    def ensure_free(self) -> None:
        """Refuse a call whose stream name is taken before anything is allocated for it."""
        if self.hub.get(self.name) is not None:
            raise StreamExists(f"stream {self.name!r} is already published")

    def publish(self, tracks: dict[str, TrackInfo]) -> Publication | None:
        """Publish with ``tracks``; None when the name got taken meanwhile."""
        provider, session_id, media_session_id = self._ids
        try:
            publication = self.hub.publish(
                self.name,
                call_id=self.call_id,
                app_key=self.app_key,
                tracks=tracks,
                control=self.control,
                provider=provider,
                session_id=session_id,
                media_session_id=media_session_id,
            )
        except StreamExists as exc:
            if self.takes_over:
                log.info("call %s: publishes %r once the call it replaces ends", self.call_id,
                         self.name)  # fmt: skip
            elif self.call_id is not None:  # a publisher's refusal is answered to its client
                log.warning("call %s: %s", self.call_id, exc)
            return None
        self.publication = publication
        return publication

    @property
    def published(self) -> bool:
        return self.publication is not None

    def unpublish(self, reason: str, failed: bool) -> None:
        publication, self.publication = self.publication, None
        if publication is None:
            return
        status = StreamStatus.FAILED if failed else StreamStatus.UNPUBLISHED
        publication.unpublish(reason, status)
