"""Events of the RTMP client connection (returned by ``RtmpClientConnection.next_event``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    pass


@dataclass(frozen=True, slots=True)
class HandshakeCompleted(Event):
    server_version: int
    s2_echo_ok: bool


@dataclass(frozen=True, slots=True)
class Connected(Event):
    """``connect`` got ``_result``: the application exists and accepted us."""

    properties: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamCreated(Event):
    stream_id: int


@dataclass(frozen=True, slots=True)
class PublishStarted(Event):
    code: str
    description: str


@dataclass(frozen=True, slots=True)
class StatusReceived(Event):
    """Any ``onStatus`` (also the ones that lead to :class:`PublishStarted`/:class:`Failed`)."""

    level: str
    code: str
    description: str


@dataclass(frozen=True, slots=True)
class Failed(Event):
    """The server refused (``_error``, an ``onStatus`` error) or the connection broke.

    ``stage`` is where it happened: "handshake", "connect", "createStream", "publish",
    "publishing" or "transport"; ``code``/``description`` are the server's words when it
    gave any (e.g. ``NetStream.Publish.BadName``)."""

    stage: str
    code: str
    description: str


@dataclass(frozen=True, slots=True)
class PeerBandwidth(Event):
    window: int
    limit_type: int


@dataclass(frozen=True, slots=True)
class PingReceived(Event):
    timestamp: int


@dataclass(frozen=True, slots=True)
class StreamBegin(Event):
    stream_id: int


@dataclass(frozen=True, slots=True)
class Closed(Event):
    """Our close sequence (FCUnpublish, deleteStream) was queued; the socket may close."""
