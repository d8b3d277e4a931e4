"""Sans-IO framing between the main process and its media workers (setting ``webrtc_workers``).

Two channels per worker:

* **control** (a stream socket): length-prefixed messages, each a dataclass below. A frame
  is a 4-byte big-endian length, then a 1-byte message type, then the fields as a UTF-8
  JSON object. Control traffic is rare (a viewer starting, stopping, once-a-second stats),
  so JSON costs nothing that matters and stays readable in a capture.
* **media** (a SOCK_SEQPACKET socket pair): one datagram per source packet per worker, a
  fixed 9-byte header (stream key, viewer id, kind) and the raw RTP bytes after it. Viewer
  id 0 means "every live viewer of this stream on the worker"; a non-zero id addresses one
  viewer (its cached keyframe packets, then a START marker after which it gets the live
  packets: on one ordered socket, so the cached packets always come first).

Bad input raises :class:`WireError`; the reader of a control channel treats it as the end
of that channel.
"""

from __future__ import annotations

import json
import struct
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, ClassVar

from .answer import SourceTrack

MAX_FRAME = 1 << 20  # an offer SDP is a few KB; stats of a full worker well under this
_LEN = struct.Struct("!I")
MEDIA_HEADER = struct.Struct("!IIB")  # stream key, viewer id (0: all), kind code
KIND_AUDIO = 0
KIND_VIDEO = 1
KIND_START = 2  # no payload: the addressed viewer takes live packets from now on
KIND_NAMES = ("audio", "video")
KIND_CODES = {"audio": KIND_AUDIO, "video": KIND_VIDEO}


class WireError(ValueError):
    """A frame or datagram that is not a valid message."""


# --- control messages -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ViewerMessage:
    """Base of the control messages about one viewer (its id, unique in the main process)."""

    viewer: int


@dataclass(frozen=True, slots=True)
class CreateViewer(ViewerMessage):
    """Main → worker: negotiate ``offer`` against the source tracks, bind, answer."""

    TYPE: ClassVar[int] = 1
    stream: int  # the stream key used in media headers
    offer: str
    tracks: list[dict[str, Any]]  # see tracks_to_wire


@dataclass(frozen=True, slots=True)
class CloseViewer(ViewerMessage):
    """Main → worker: stop the viewer and free its port (no answer expected)."""

    TYPE: ClassVar[int] = 2


@dataclass(frozen=True, slots=True)
class StartLive(ViewerMessage):
    """Main → worker: the START marker, when the media socket had no room for it."""

    TYPE: ClassVar[int] = 3


@dataclass(frozen=True, slots=True)
class ViewerAnswer(ViewerMessage):
    """Worker → main: the answer SDP; ``kinds`` are the tracks the viewer gets."""

    TYPE: ClassVar[int] = 10
    answer: str
    kinds: list[str]


@dataclass(frozen=True, slots=True)
class ViewerRefused(ViewerMessage):
    """Worker → main: no answer (bad offer: 400, no port: 503); ``info`` is a WCS info."""

    TYPE: ClassVar[int] = 11
    info: str
    status: int


@dataclass(frozen=True, slots=True)
class PeerState(ViewerMessage):
    """Worker → main: the peer's state changed (wcs.webrtc.events names and infos)."""

    TYPE: ClassVar[int] = 12
    state: str
    info: str = ""


@dataclass(frozen=True, slots=True)
class KeyframeRequest(ViewerMessage):
    """Worker → main: the viewer asked for a picture (already rate-limited per viewer)."""

    TYPE: ClassVar[int] = 13


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """Worker → main, periodically: each viewer's ``ViewerPeer.stats()`` (keyed by the
    viewer id as text, JSON objects have text keys), the media datagrams it could not
    use, and counter increments since the last report."""

    TYPE: ClassVar[int] = 14
    viewers: dict[str, dict[str, Any]]
    bad_media: int = 0
    dtls_failures: int = 0
    srtp_failures: int = 0


Message = (
    CreateViewer
    | CloseViewer
    | StartLive
    | ViewerAnswer
    | ViewerRefused
    | PeerState
    | KeyframeRequest
    | WorkerStats
)
_CLASSES: dict[int, type[Any]] = {
    c.TYPE: c
    for c in (
        CreateViewer,
        CloseViewer,
        StartLive,
        ViewerAnswer,
        ViewerRefused,
        PeerState,
        KeyframeRequest,
        WorkerStats,
    )
}
# JSON type each field must have (bool is refused where an int is wanted).
_JSON_TYPES: dict[str, type[Any]] = {
    "int": int,
    "str": str,
    "list[dict[str, Any]]": list,
    "list[str]": list,
    "dict[str, dict[str, Any]]": dict,
}


def encode(message: Message) -> bytes:
    """One control frame."""
    body = json.dumps(asdict(message), separators=(",", ":")).encode()
    if len(body) + 1 > MAX_FRAME:
        raise WireError(f"{type(message).__name__} too large ({len(body)} bytes)")
    return _LEN.pack(len(body) + 1) + bytes((message.TYPE,)) + body


def decode_body(frame: bytes) -> Message:
    """A message from one frame's type byte and body (the length already taken off)."""
    if not frame:
        raise WireError("empty frame")
    cls = _CLASSES.get(frame[0])
    if cls is None:
        raise WireError(f"unknown message type {frame[0]}")
    try:
        data = json.loads(frame[1:])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"{cls.__name__}: bad JSON ({exc})") from None
    if not isinstance(data, dict):
        raise WireError(f"{cls.__name__}: body is not an object")
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            if f.default is not MISSING:
                continue
            raise WireError(f"{cls.__name__}: missing field {f.name!r}")
        value = data[f.name]
        want = _JSON_TYPES[str(f.type)]
        if isinstance(value, bool) or not isinstance(value, want):
            raise WireError(f"{cls.__name__}: field {f.name!r} is not {f.type}")
        values[f.name] = value
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise WireError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    message: Message = cls(**values)
    return message


class FrameDecoder:
    """Feed bytes as they arrive; take whole messages out."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out: list[Message] = []
        while len(self._buf) >= 4:
            (n,) = _LEN.unpack_from(self._buf)
            if n == 0 or n > MAX_FRAME:
                raise WireError(f"bad frame length {n}")
            if len(self._buf) < 4 + n:
                break
            frame = bytes(self._buf[4 : 4 + n])
            del self._buf[: 4 + n]
            out.append(decode_body(frame))
        return out

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame (non-zero at EOF: the peer died mid-frame)."""
        return len(self._buf)


# --- source tracks ----------------------------------------------------------------------


def tracks_to_wire(tracks: list[SourceTrack]) -> list[dict[str, Any]]:
    return [asdict(t) for t in tracks]


def tracks_from_wire(items: list[dict[str, Any]]) -> list[SourceTrack]:
    out = []
    for item in items:
        try:
            kind, codec, rate = item["kind"], item["codec"], item["clock_rate"]
            fmtp, channels = item.get("fmtp", {}), item.get("channels", 1)
        except (TypeError, KeyError) as exc:
            raise WireError(f"bad source track {item!r}") from exc
        ok = (
            kind in KIND_CODES
            and isinstance(codec, str)
            and type(rate) is int
            and type(channels) is int
            and isinstance(fmtp, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in fmtp.items())
        )
        if not ok:
            raise WireError(f"bad source track {item!r}")
        out.append(SourceTrack(kind, codec, rate, dict(fmtp), channels))
    return out


# --- media datagrams --------------------------------------------------------------------


def media_header(stream: int, viewer: int, kind: int) -> bytes:
    return MEDIA_HEADER.pack(stream, viewer, kind)


def parse_media(data: bytes) -> tuple[int, int, int, bytes]:
    """(stream key, viewer id, kind code, RTP bytes) of one media datagram."""
    if len(data) < MEDIA_HEADER.size:
        raise WireError(f"media datagram of {len(data)} bytes")
    stream, viewer, kind = MEDIA_HEADER.unpack_from(data)
    if kind > KIND_START or (kind == KIND_START and viewer == 0):
        raise WireError(f"bad media kind {kind} for viewer {viewer}")
    return stream, viewer, kind, data[MEDIA_HEADER.size :]
