"""RTMP URLs and the WCS ``/push/startup`` target semantics.

``rtmp://host[:port]/app[/instance]/stream`` — the last path segment is the stream name,
everything before it is the application (``app/instance`` kept together, as FMLE and ffmpeg
do). ``rtmps://`` is the same over TLS (default port 443).

WCS reading (``/rest-api/push/startup``):

* ``rtmpTransponderFullUrl`` false (default): ``rtmpUrl`` names the server and application
  only (``rtmp://host:1935/live``); the published name is the prefix + the source stream
  name (``rtmp_<name>``; the prefix is a setting, WCS default ``rtmp_``).
* ``rtmpTransponderFullUrl`` true: ``rtmpUrl`` already ends with the name to publish
  (``rtmp://a.rtmp.youtube.com/live2/<key>``); nothing is appended and no prefix applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import RtmpError

DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443}
DEFAULT_STREAM_PREFIX = "rtmp_"


@dataclass(frozen=True, slots=True)
class RtmpTarget:
    scheme: str
    host: str
    port: int
    app: str
    stream: str  # may carry a query string (stream keys, tokens): not for logs

    @property
    def tls(self) -> bool:
        return self.scheme == "rtmps"

    @property
    def tc_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}/{self.app}"

    def __repr__(self) -> str:
        # The stream name can be a secret key (YouTube, Twitch): keep it out of reprs.
        return f"RtmpTarget({self.tc_url!r}, stream=<{len(self.stream)} chars>)"


def _split(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise RtmpError(f"bad RTMP URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise RtmpError(f"unsupported URL scheme {scheme!r}: expected rtmp or rtmps")
    if not parts.hostname:
        raise RtmpError("RTMP URL has no host")
    path = parts.path.strip("/")
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port or DEFAULT_PORTS[scheme], path


def parse_base_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, app) of a URL that names no stream."""
    scheme, host, port, path = _split(url)
    if not path:
        raise RtmpError("RTMP URL has no application")
    return scheme, host, port, path


def parse_full_url(url: str) -> RtmpTarget:
    """A URL whose last path segment is the stream name."""
    scheme, host, port, path = _split(url)
    head, _, query = path.partition("?")
    app, sep, stream = head.rpartition("/")
    if not sep or not app or not stream:
        raise RtmpError("RTMP URL needs both an application and a stream name")
    if query:
        stream += "?" + query
    return RtmpTarget(scheme, host, port, app, stream)


def push_target(
    rtmp_url: str,
    stream_name: str,
    full_url: bool = False,
    prefix: str = DEFAULT_STREAM_PREFIX,
) -> RtmpTarget:
    """Where ``/push/startup`` publishes ``stream_name`` (see the module docstring)."""
    if full_url:
        return parse_full_url(rtmp_url)
    if not stream_name:
        raise RtmpError("stream name is empty")
    scheme, host, port, app = parse_base_url(rtmp_url)
    return RtmpTarget(scheme, host, port, app, prefix + stream_name)
