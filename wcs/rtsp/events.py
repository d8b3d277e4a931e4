"""What an RTSP connection core tells its edge."""

from __future__ import annotations

from dataclasses import dataclass

from .transport import TrackTransport


@dataclass(frozen=True, slots=True)
class TrackSetup:
    """A track was set up in a session (UDP: ``server_ports`` came from the edge's hook)."""

    session_id: str
    stream: str
    track: int
    transport: TrackTransport


@dataclass(frozen=True, slots=True)
class PlayStarted:
    """Start sending: every set-up track, from the stream's cached keyframe on.

    UDP tracks go to (``client_host``, the track's client ports); TCP tracks through
    :meth:`RtspConnection.send_interleaved`.
    """

    session_id: str
    stream: str
    tracks: dict[int, TrackTransport]
    client_host: str


@dataclass(frozen=True, slots=True)
class Paused:
    session_id: str
    stream: str


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """Stop sending and release the session's UDP ports.

    ``reason``: "teardown" (the client asked), "timeout" (no keep-alive within the
    session timeout), "closed" (the RTSP connection went away) or "stream" (the edge ended
    it, e.g. the stream stopped).
    """

    session_id: str
    stream: str
    tracks: dict[int, TrackTransport]
    reason: str


@dataclass(frozen=True, slots=True)
class InterleavedReceived:
    """A ``$`` frame from the client (RTCP receiver reports of a TCP session)."""

    channel: int
    data: bytes


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Close the connection once what is queued has been written (an unparseable request)."""

    reason: str


RtspEvent = TrackSetup | PlayStarted | Paused | SessionEnded | InterleavedReceived | CloseConnection
