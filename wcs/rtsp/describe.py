"""DESCRIBE: the SDP (RFC 4566, RFC 2326 C.1) of a stream's tracks, and RTSP URLs.

Packets go out as the stream received them (no re-encoding, same payload type), so each
m-line carries the track's own payload type and codec. H.264 gets ``profile-level-id`` and
``sprop-parameter-sets`` from the cached SPS/PPS (players such as VLC need them to start
before the first in-band SPS); G.711 and Opus are described as they are. Each track has a
relative ``a=control:trackID=N`` resolved against the Content-Base ``rtsp://…/{stream}/``;
N is the track's ``track_id`` when the source gives one (stable while tracks come and go:
the hub gives video 0 and audio 1, so an audio track that appears late never renumbers the
video a player already set up), else its position.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from wcs.media.h264 import format_sprop_parameter_sets
from wcs.sdp.fmtp import format_fmtp, parse_fmtp

TRACK_PREFIX = "trackID="
_NAME_MAX = 200


@dataclass(frozen=True, slots=True)
class RtspTrack:
    """One track of a stream as RTSP serves it (the hub's TrackInfo has these fields)."""

    kind: str  # "audio" | "video"
    codec: str  # "H264", "PCMU", "PCMA", "opus"
    clock_rate: int
    payload_type: int
    channels: int = 1
    fmtp: str | None = None
    sps: bytes | None = None
    pps: bytes | None = None
    track_id: int | None = None  # None: its position in the description


@dataclass(frozen=True, slots=True)
class StreamDescription:
    name: str
    tracks: tuple[RtspTrack, ...]

    def numbered(self) -> list[tuple[int, RtspTrack]]:
        """(track id, track) in SDP order."""
        return [(i if t.track_id is None else t.track_id, t) for i, t in enumerate(self.tracks)]

    def track(self, track_id: int) -> RtspTrack | None:
        return next((t for i, t in self.numbered() if i == track_id), None)


@dataclass(frozen=True, slots=True)
class RtspUrl:
    stream: str
    track: int | None  # None: the aggregate (the whole stream)
    query: str


def parse_url(uri: str) -> RtspUrl | None:
    """``rtsp://host[:port]/{stream}[/trackID=N][?query]`` (or the bare path); None if not.

    The stream name is one path element: no slashes, dots-only names or control characters
    survive, so a URL can only name a stream, never anything else.
    """
    if uri.startswith("/"):
        path, _, query = uri.partition("?")
    else:
        try:
            parts = urlsplit(uri)
        except ValueError:
            return None
        if parts.scheme.lower() not in ("rtsp", "rtsps", "rtspu") or not parts.netloc:
            return None
        path, query = parts.path, parts.query
    elements = [e for e in path.split("/") if e]
    track: int | None = None
    if elements and elements[-1].startswith(TRACK_PREFIX):
        number = elements.pop()[len(TRACK_PREFIX) :]
        if not number.isdigit() or len(number) > 3:
            return None
        track = int(number)
    if len(elements) != 1:
        return None
    name = unquote(elements[0])
    if (
        not name
        or len(name) > _NAME_MAX
        or set(name) <= {"."}
        or "/" in name
        or "\\" in name
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name)
    ):
        return None
    return RtspUrl(name, track, query)


def content_base(uri: str) -> str:
    """The request URL (no query) with one trailing slash: the base of ``a=control``."""
    base = uri.split("?", 1)[0]
    return base if base.endswith("/") else base + "/"


def _media(index: int, track: RtspTrack) -> list[str]:
    pt = track.payload_type
    lines = [f"m={track.kind} 0 RTP/AVP {pt}"]
    if track.codec.upper() == "H264":
        lines.append(f"a=rtpmap:{pt} H264/{track.clock_rate}")
        params = parse_fmtp(track.fmtp)
        params.setdefault("packetization-mode", "1")
        if track.sps is not None and len(track.sps) >= 4:
            params["profile-level-id"] = track.sps[1:4].hex()
            sets = [track.sps] + ([track.pps] if track.pps else [])
            params["sprop-parameter-sets"] = format_sprop_parameter_sets(sets)
        lines.append(f"a=fmtp:{pt} {format_fmtp(params)}")
    else:
        encoding = f"{track.codec}/{track.clock_rate}"
        if track.codec.lower() == "opus":
            encoding = f"opus/{track.clock_rate}/2"  # always two in SDP (RFC 7587)
        elif track.channels > 1:
            encoding += f"/{track.channels}"
        lines.append(f"a=rtpmap:{pt} {encoding}")
        if track.fmtp:
            lines.append(f"a=fmtp:{pt} {track.fmtp}")
    lines.append(f"a=control:{TRACK_PREFIX}{index}")
    return lines


def build_sdp(stream: StreamDescription, server_ip: str, session_id: int) -> str:
    family = "IP6" if ":" in server_ip else "IP4"
    lines = [
        "v=0",
        f"o=- {session_id} 1 IN {family} {server_ip}",
        f"s={stream.name}",
        f"c=IN {family} {'::' if family == 'IP6' else '0.0.0.0'}",
        "t=0 0",
        "a=tool:wcs",
        "a=type:broadcast",
        "a=control:*",
        "a=range:npt=now-",
    ]
    for index, track in stream.numbered():
        lines += _media(index, track)
    return "\r\n".join(lines) + "\r\n"
