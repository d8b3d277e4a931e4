"""HLS and RTSP playback of the hub's streams: the parts, built from the settings.

* :class:`~wcs.app.aac_stage.AacStages` (given: the RTMP pushes share it): each stream's
  audio as AAC, encoded once;
* :class:`~wcs.app.hls_output.HlsOutputs` behind :class:`~wcs.rest.hls_api.HlsApi` on
  ``hls_port`` (and https on ``hls_tls_port`` when ``tls_cert``/``tls_key`` are set);
* :class:`~wcs.rtsp.server.RtspServer` on ``rtsp_port`` over :class:`HubRtspSource`, UDP
  server ports from the media port allocator, Basic/Digest auth when ``rest_auth`` is set
  (``basic:USER:PASSWORD`` → that user; ``token:SECRET`` → user ``token``, password SECRET:
  RTSP players only speak user/password).

:func:`stream_urls` is what ``/stream/find`` adds to each stream: how to watch it.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from wcs import netaddr
from wcs.app.aac_stage import AacStages
from wcs.app.hls_output import HlsOutputs, HlsOutputSettings
from wcs.app.rtsp_source import HubRtspSource
from wcs.app.streams import StreamHub
from wcs.config import Settings, hls_settings
from wcs.limits import Quota, fit_to_descriptors
from wcs.rest.hls_api import HlsApi
from wcs.rest.router import Router
from wcs.rest.server import HttpServer
from wcs.rtp.ports import PortAllocator
from wcs.rtsp import PasswordAuth, RtspSettings
from wcs.rtsp.server import EdgeSettings, RtspServer
from wcs.webrtc.service import tls_context


def rtsp_auth(rest_auth: str) -> PasswordAuth | None:
    kind, _, rest = rest_auth.partition(":")
    if kind == "basic":
        user, _, password = rest.partition(":")
        return PasswordAuth(user, password)
    if kind == "token" and rest:
        return PasswordAuth("token", rest)
    return None


class Playout:
    def __init__(
        self,
        settings: Settings,
        hub: StreamHub,
        ports: PortAllocator,
        aac: AacStages,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        s = settings
        self.settings = s
        self.aac = aac  # shared with the RTMP pushes
        self.hls = HlsOutputs(
            hub,
            self.aac,
            HlsOutputSettings(hls_settings(s), s.hls_idle_timeout, s.hls_always),
            loop,
        )
        self.hls_api = HlsApi(self.hls)
        router = Router()
        self.hls_api.add_routes(router)
        common: dict[str, Any] = {
            "host": s.bind_ip,
            "max_body": 0,
            "idle_timeout": s.http_idle_timeout,
            "request_timeout": s.http_request_timeout,
            "cors_origin": s.cors_allow_origin,
            "quota": Quota(
                "hls_connections",
                fit_to_descriptors("hls_connections", s.hls_max_connections),
                s.hls_max_connections_per_ip,
            ),
        }
        self.http = HttpServer(router, port=s.hls_port, **common)
        self.https: HttpServer | None = None
        if s.tls_cert and s.tls_key:
            context = tls_context(s.tls_cert, s.tls_key)
            self.https = HttpServer(router, port=s.hls_tls_port, ssl_context=context, **common)
        self.rtsp = RtspServer(
            HubRtspSource(hub),
            host=s.bind_ip,
            port=s.rtsp_port,
            allocate_ports=ports.allocate_pair,
            settings=EdgeSettings(
                RtspSettings(session_timeout=s.rtsp_session_timeout),
                max_connections=s.rtsp_max_connections,
            ),
            auth=rtsp_auth(s.rest_auth),
        )

    def urls(self, name: str, host: str, http_port: int, ws_port: int) -> dict[str, str]:
        https = self.https.port if self.https is not None else None
        return stream_urls(
            name, host, http=http_port, ws=ws_port, hls=self.http.port, rtsp=self.rtsp.port,
            hls_tls=https,
        )  # fmt: skip

    async def start(self) -> None:
        await self.http.start()
        if self.https is not None:
            await self.https.start()
        await self.rtsp.start()

    async def close(self) -> None:
        await self.rtsp.close()
        await self.http.close()
        if self.https is not None:
            await self.https.close()
        self.hls.close()


def _host_only(host_header: str) -> str:
    """The host of a Host header (``h``, ``h:port``, ``[v6]:port``), brackets kept for v6."""
    if host_header.startswith("["):
        return host_header.split("]", 1)[0] + "]"
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def stream_urls(
    name: str, host: str, *, http: int, ws: int, hls: int, rtsp: int, hls_tls: int | None
) -> dict[str, str]:
    """Where a stream plays (``/stream/find`` ``urls``): WCS WebSocket, WHEP, HLS, RTSP.

    ``host``: how the asking client reached us (its Host header), else our public address.
    """
    h = _host_only(host)
    if netaddr.is_ipv6(h) and not h.startswith("["):
        h = f"[{h}]"
    q = quote(name, safe="")
    urls = {
        "webrtc": f"ws://{h}:{ws}",
        "whep": f"http://{h}:{http}/whep/{q}",
        "hls": f"http://{h}:{hls}/{q}/{q}.m3u8",
        "rtsp": f"rtsp://{h}:{rtsp}/{q}",
    }
    if hls_tls is not None:
        urls["hlsTls"] = f"https://{h}:{hls_tls}/{q}/{q}.m3u8"
    return urls


__all__ = ["Playout", "rtsp_auth", "stream_urls"]
