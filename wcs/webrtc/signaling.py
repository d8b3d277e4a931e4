"""The WCS WebSocket signaling protocol (Flashphoner WebSDK), sans-IO.

One :class:`WcsSession` per WebSocket connection. It is fed text frames and the time, and
hands out text frames to send, a timer, and :class:`SignalingEvent` objects for the
application (play, stop, availability). Envelope: ``{"message": name, "data": [...]}``; every
frame we send carries a ``data`` array, because the SDK reads ``data[0]`` of every frame and
throws on a frame without one (spec §1.2).

Keep-alive (spec §1.4): we send ``ping`` every ``ping_interval`` seconds; any frame from the
client counts as a sign of life; after ``max_missed`` pings with nothing back the session
asks to be closed (:attr:`closed_reason`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from wcs.app.stream import StreamStatus

log = logging.getLogger(__name__)

# Client messages we accept and do nothing with (diagnostics, publisher-side events).
IGNORED = frozenset(
    {"pong", "ping", "pushLogs", "sessionDebug", "submitBugReport", "sendStreamEvent"}
)
MAX_ID = 128
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class SignalingEvent:
    pass


@dataclass(frozen=True, slots=True)
class Connected(SignalingEvent):
    app_key: str
    fields: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class StreamRequest(SignalingEvent):
    """Base of the requests about one stream ``name`` of one ``mediaSessionId``."""

    media_session_id: str
    name: str


@dataclass(frozen=True, slots=True)
class OfferRequest(StreamRequest):
    """Base of the requests carrying the browser's SDP offer and the message's fields."""

    sdp: str = field(repr=False)
    fields: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class PlayRequested(OfferRequest):
    """``playStream``: the browser's offer to play stream ``name``."""


@dataclass(frozen=True, slots=True)
class PlayRefused(StreamRequest):
    """A ``playStream`` answered FAILED by the session itself (no name, not WebRTC, no SDP);
    the application reports it (REST hook). Not emitted for a ``mediaSessionId`` in use."""

    info: str


@dataclass(frozen=True, slots=True)
class PublishRequested(OfferRequest):
    """``publishStream``: the browser's offer for stream ``name``."""


@dataclass(frozen=True, slots=True)
class UnpublishRequested(StreamRequest):
    """``unPublishStream``."""


@dataclass(frozen=True, slots=True)
class StopRequested(StreamRequest):
    """``stopStream``."""


@dataclass(frozen=True, slots=True)
class AvailabilityRequested(StreamRequest):
    """``availableStream``."""


# The messages that end a play or a publication of this session.
ENDING: dict[str, type[StreamRequest]] = {
    "unPublishStream": UnpublishRequested,
    "stopStream": StopRequested,
}


@dataclass(slots=True)
class PlaySession:
    """What the session remembers of one played stream (for status events)."""

    media_session_id: str
    name: str
    status: StreamStatus = StreamStatus.PENDING
    published: bool = False  # a publishStream, not a playStream


ENDED = (StreamStatus.STOPPED, StreamStatus.FAILED, StreamStatus.UNPUBLISHED)


class WcsSession:
    def __init__(
        self,
        session_id: str,
        now: float,
        *,
        ping_interval: float = 5.0,
        max_missed: int = 10,
    ) -> None:
        self.session_id = session_id
        self.app_key = "defaultApp"
        self.established = False
        self.plays: dict[str, PlaySession] = {}
        self.closed_reason: str | None = None
        self.malformed = 0
        self._ping_interval = ping_interval
        self._max_missed = max_missed
        self._missed = 0
        self._next_ping = now + ping_interval
        self._out: list[str] = []
        self._events: list[SignalingEvent] = []

    # ------------------------------------------------------------------ input
    def receive_text(self, text: str, now: float) -> None:
        self._missed = 0  # any frame is a sign of life
        try:
            frame = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            self.malformed += 1
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("message"), str):
            self.malformed += 1
            return
        message: str = frame["message"]
        data = frame.get("data")
        payload = data[0] if isinstance(data, list) and data else None
        if message in IGNORED:
            return
        if message == "connection":
            self._on_connection(payload if isinstance(payload, dict) else {})
            return
        if not self.established:
            log.info("signaling %s: %r before connection ignored", self.session_id, message)
            return
        if not isinstance(payload, dict):
            self.malformed += 1
            return
        if message == "playStream":
            self._on_play(payload)
        elif message == "publishStream":
            self._on_publish(payload)
        elif message in ENDING:  # the name is the play's when the session knows it
            msid = _text(payload.get("mediaSessionId"), MAX_ID)
            if msid is not None:
                play = self.plays.get(msid)
                name = play.name if play else _text(payload.get("name"), MAX_NAME) or ""
                self._events.append(ENDING[message](msid, name))
        elif message == "availableStream":
            msid = _text(payload.get("mediaSessionId"), MAX_ID) or ""
            name = _text(payload.get("name"), MAX_NAME) or ""
            self._events.append(AvailabilityRequested(msid, name))
        else:
            log.debug("signaling %s: unsupported message %r ignored", self.session_id, message)

    def _on_connection(self, payload: dict[str, Any]) -> None:
        if self.established:
            return
        self.established = True
        app_key = _text(payload.get("appKey"), MAX_NAME)
        self.app_key = app_key or "defaultApp"
        providers = payload.get("mediaProviders")
        # Secrets the client may send (SIP phone use) are not kept.
        fields = {k: v for k, v in payload.items() if k not in ("sipPassword", "authToken")}
        reply = {
            "appKey": self.app_key,
            "sessionId": self.session_id,
            "authToken": self.session_id,
            "status": "ESTABLISHED",
            "mediaProviders": providers if isinstance(providers, list) else ["WebRTC"],
            "useWsTunnel": False,
            "useWsTunnelPacketization2": False,
            "useBase64BinaryEncoding": False,
            "clientVersion": _text(payload.get("clientVersion"), MAX_NAME),
        }
        self._send("getUserData", reply)
        self._events.append(Connected(self.app_key, fields))

    def _new_media_session(self, payload: dict[str, Any]) -> str | None:
        """The request's mediaSessionId when it is usable; else the refusal is sent."""
        msid = _text(payload.get("mediaSessionId"), MAX_ID)
        if not msid:
            self._send(
                "fail",
                {
                    "apiMethod": "StreamStatusEvent",
                    "id": None,
                    "status": StreamStatus.FAILED,
                    "info": "MediaSessionId is null",
                },
            )
            return None
        if msid in self.plays:
            name = _text(payload.get("name"), MAX_NAME) or ""
            self.stream_status(
                msid, StreamStatus.FAILED, "MediaSessionId is already in use", name=name
            )
            return None
        return msid

    def _on_play(self, payload: dict[str, Any]) -> None:
        msid = self._new_media_session(payload)
        if msid is None:
            return
        name = _text(payload.get("name"), MAX_NAME)
        if not name:
            self.stream_status(msid, StreamStatus.FAILED, "Stream not found", name="")
            self._events.append(PlayRefused(msid, "", "Stream not found"))
            return
        provider = payload.get("mediaProvider", "WebRTC")
        sdp = payload.get("sdp")
        if provider != "WebRTC" or not isinstance(sdp, str) or not sdp.strip():
            self.stream_status(msid, StreamStatus.FAILED, "Failed by error", name=name)
            self._events.append(PlayRefused(msid, name, "Failed by error"))
            return
        self.plays[msid] = PlaySession(msid, name)
        self._events.append(PlayRequested(msid, name, sdp, payload))

    def _on_publish(self, payload: dict[str, Any]) -> None:
        msid = self._new_media_session(payload)
        if msid is None:
            return
        name = _text(payload.get("name"), MAX_NAME) or ""
        self.plays[msid] = PlaySession(msid, name, published=True)
        provider = payload.get("mediaProvider", "WebRTC")
        sdp = payload.get("sdp")
        if not name:
            self.stream_status(msid, StreamStatus.FAILED, "Stream name is empty")
        elif provider != "WebRTC" or not isinstance(sdp, str) or not sdp.strip():
            self.stream_status(msid, StreamStatus.FAILED, "Failed by error")
        else:
            self._events.append(PublishRequested(msid, name, sdp, payload))

    # ------------------------------------------------------------------ output
    def remote_sdp(self, media_session_id: str, sdp: str) -> None:
        self._send_raw({"message": "setRemoteSDP", "data": [media_session_id, sdp]})

    def stream_status(
        self,
        media_session_id: str,
        status: StreamStatus,
        info: str | None = None,
        *,
        name: str | None = None,
        **extra: Any,
    ) -> None:
        """``notifyStreamStatusEvent``; PLAYING/STOPPED/FAILED are what the player acts on,
        PUBLISHING/UNPUBLISHED/FAILED what the publisher does."""
        play = self.plays.get(media_session_id)
        published = False
        if play is not None:
            play.status = status
            published = play.published
            name = play.name if name is None else name
            if status in ENDED:
                del self.plays[media_session_id]
        body: dict[str, Any] = {
            "mediaSessionId": media_session_id,
            "name": name or "",
            "published": published,
            "hasVideo": True,
            "hasAudio": True,
            "status": status,
            "info": info,
            "record": False,
            "width": 0,
            "height": 0,
            "bitrate": 0,
            "quality": 0,
            "mediaProvider": "WebRTC",
            "sessionId": self.session_id,
            "appKey": self.app_key,
        }
        body.update(extra)
        self._send("notifyStreamStatusEvent", body)

    def available(self, media_session_id: str, available: bool, info: str | None = None) -> None:
        # The SDK compares status with the *string* "true" (spec §1.7).
        self._send(
            "availableStream",
            {"id": media_session_id, "status": "true" if available else "false", "info": info},
        )

    def _send(self, message: str, payload: Any) -> None:
        self._send_raw({"message": message, "data": [payload]})

    def _send_raw(self, frame: dict[str, Any]) -> None:
        self._out.append(json.dumps(frame, separators=(",", ":")))

    def data_to_send(self, now: float) -> list[str]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> SignalingEvent | None:
        return self._events.pop(0) if self._events else None

    # ------------------------------------------------------------------ timers
    def get_timer(self) -> float | None:
        return None if self.closed_reason else self._next_ping

    def handle_timer(self, now: float) -> None:
        if self.closed_reason or now < self._next_ping:
            return
        if self._missed >= self._max_missed:
            self.closed_reason = "Terminated by keep-alive"
            return
        self._missed += 1
        self._send_raw({"message": "ping", "data": []})
        self._next_ping = now + self._ping_interval


def _text(value: Any, max_len: int) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= max_len and "\x00" not in value:
        return value
    return None
