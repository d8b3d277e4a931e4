"""RTSP playback server core (RFC 2326 / RFC 7826 subset), sans-IO.

:class:`RtspConnection` is one control connection; the asyncio edge feeds it bytes, writes
``data_to_send``, sends RTP for UDP sessions itself and interleaved RTP through
``send_interleaved``. See :mod:`wcs.rtsp.connection` for the methods and status codes.
"""

from .auth import PasswordAuth, RtspAuth
from .connection import RtspConnection, RtspSettings, StreamSource
from .describe import RtspTrack, RtspUrl, StreamDescription, build_sdp, parse_url
from .events import (
    CloseConnection,
    InterleavedReceived,
    Paused,
    PlayStarted,
    RtspEvent,
    SessionEnded,
    TrackSetup,
)
from .message import interleaved_frame
from .transport import TrackTransport

__all__ = [
    "CloseConnection",
    "InterleavedReceived",
    "PasswordAuth",
    "Paused",
    "PlayStarted",
    "RtspAuth",
    "RtspConnection",
    "RtspEvent",
    "RtspSettings",
    "RtspTrack",
    "RtspUrl",
    "SessionEnded",
    "StreamDescription",
    "StreamSource",
    "TrackSetup",
    "TrackTransport",
    "build_sdp",
    "interleaved_frame",
    "parse_url",
]
