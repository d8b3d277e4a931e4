"""Composition root: builds every part from the settings, starts them, stops them in order."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from typing import Any, TypeVar

from wcs import netaddr
from wcs.app.aac_stage import AacStages
from wcs.app.call import Call, CallStatus
from wcs.app.call_inject import InjectSettings, StreamInjections
from wcs.app.calls import CallManager
from wcs.app.errors import RequestError
from wcs.app.hooks import HookPublisher
from wcs.app.inbound import InboundPolicy
from wcs.app.inbound_calls import InboundCalls
from wcs.app.media import DIRECT_RTMP_PREFIX, CallMediaFactory, MediaConfig
from wcs.app.playout import Playout
from wcs.app.registrations import AccountRegistrations
from wcs.app.streams import StreamHub
from wcs.config import ConfigError, Settings, parse_hooks, srtp_suites
from wcs.demo import DemoCallee
from wcs.demo.routing import demo_defaults
from wcs.drain import Drain
from wcs.event_loop import choose_event_loop
from wcs.limits import Quota, RateLimit, fit_to_descriptors
from wcs.media.dtmf import DtmfSettings
from wcs.media.sound_cache import SoundCache
from wcs.observability.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from wcs.observability.metrics import REGISTRY
from wcs.observability.server_metrics import ServerMetrics
from wcs.record.manager import RecorderManager
from wcs.rest.call_actions_api import add_call_action_routes
from wcs.rest.calls_api import add_call_routes
from wcs.rest.http import BadRequest, HttpServer, Request, Response, Router, json_response
from wcs.rest.openapi import add_openapi_route
from wcs.rest.push_api import add_push_routes
from wcs.rest.recorder_api import add_recorder_routes
from wcs.rest.sip_api import add_sip_routes, parse_registration, parse_trunk
from wcs.rest.streams_api import add_stream_routes
from wcs.rtmp.push import PushManager
from wcs.rtmp.reconnect import ReconnectPolicy
from wcs.rtp.ports import PortAllocator
from wcs.rtp.source_guard import GuardConfig
from wcs.sip.events import Event, IncomingCall
from wcs.sip.tls import SipTlsConfig
from wcs.sip.transport import SipTransport
from wcs.sip.ua import SipTimers, UserAgent
from wcs.web import add_web_routes
from wcs.webrtc.service import PlaybackService

log = logging.getLogger("wcs")

SHUTDOWN_GRACE_S = 5.0


class Server:
    """Every long-lived part of a running wcs, owned in one place."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        s = settings
        self.public_ip = s.effective_public_ip()
        self.hooks = HookPublisher(
            parse_hooks(s.rest_hooks), timeout=s.rest_hook_timeout, retries=s.rest_hook_retries
        )
        self.ua = UserAgent(
            local_port=s.sip_port,
            public_ip=self.public_ip,
            user_agent=s.sip_user_agent,
            timers=SipTimers(t1=s.sip_t1, t2=s.sip_t2, t4=s.sip_t4),
            session_expires=s.sip_session_expires,
            min_se=s.sip_min_se,
            register_expires=s.sip_register_expires,
            incoming=True,  # the inbound policy refuses (403) what nothing admits
            keepalive_interval=s.sip_register_keepalive,
            keepalive_failures=s.sip_register_keepalive_failures,
        )
        self.ua.allow_refer = s.sip_allow_refer
        self.sip = SipTransport(
            self.ua,
            s.bind_ip,
            s.sip_port,
            self._on_sip_event,
            accepted_idle_timeout=s.sip_tcp_idle_timeout,
            quota=Quota(
                "sip_tcp_connections",
                fit_to_descriptors("sip_tcp_connections", s.sip_tcp_max_connections),
                s.sip_tcp_max_connections_per_ip,
            ),
            tls=sip_tls_config(s),
        )
        self.ports = PortAllocator(s.media_port_from, s.media_port_to, host=s.bind_ip)
        self.streams = StreamHub(self.hooks)
        self.media = CallMediaFactory(
            self.ports,
            self.public_ip,
            self.streams,
            media_config(s),
            loop=asyncio.get_running_loop(),  # Server is built inside the loop it runs on
        )
        self.calls = CallManager(
            self.ua,
            self.sip.wake,
            self.hooks,
            self.media,
            clock=self.sip.now,
            max_per_app_key=s.max_calls_per_app_key,
            dtmf=dtmf_settings(s),
        )
        self.media.control = self.calls
        self.calls.rtmp_status_lookup = self._call_push_status
        # One AAC encoder per stream, shared by every consumer that needs AAC (pushes, HLS).
        self.aac = AacStages(asyncio.get_running_loop())
        self.pushes = PushManager(
            self.streams,
            policy=ReconnectPolicy(s.push_reconnect_attempts, s.push_reconnect_backoff),
            flash_version=s.rtmp_flash_version,
            prefix=s.rtmp_stream_prefix,
            g711_passthrough=s.rtmp_g711_passthrough,
            hooks=self.hooks,
            call_lookup=self._call_rtmp,
            keyframe_interval=s.push_keyframe_interval,
            source_timeout=s.push_source_timeout,
            sounds_dir=s.sounds_dir,
            aac_stages=self.aac,
        )
        self.recorders = RecorderManager(
            self.streams,
            s.record_dir,
            s.record_template,
            s.record_rotation,
            s.record_container,
            s.on_record_hook,
            auto=s.record_sip_streams,
            aac_stages=self.aac,
        )
        self.registrations = AccountRegistrations(
            self.ua,
            self.sip.wake,
            self.sip.now,
            retry=s.sip_register_retry,
            retry_max=s.sip_register_retry_max,
        )
        self._configured_regs = _from_config(
            "sip_registration",
            s.sip_registration,
            lambda body: parse_registration(body, self.registrations),
        )
        policy = InboundPolicy(
            _from_config("sip_trunk", s.sip_trunk, parse_trunk),
            self.registrations.by_login,
            lambda: bool(self.registrations.all()),
        )
        self.inbound = InboundCalls(
            self.ua,
            self.calls,
            policy,
            self.sip.wake,
            self.sip.now,
            lambda name: self.streams.get(name) is not None,
            lambda app_key, call: self.hooks.ask(app_key, "IncomingCallEvent", call),
            pin_timeout=s.inbound_pin_timeout,
        )
        self.calls.watch(self._record_incoming)
        self.router = Router()
        # The demo callee's port is known only after start(): the route reads it then.
        # On the loopback of the family we advertise: its RTP goes to our public_ip.
        demo_host = netaddr.loopback_for(self.public_ip)
        self.demo = DemoCallee(demo_host) if s.demo_callee else None
        add_call_routes(self.router, self.calls, self._demo_defaults)
        self.playout = Playout(s, self.streams, self.ports, self.aac, asyncio.get_running_loop())
        self.sounds = SoundCache(s.sound_cache_entries, s.sound_cache_mb * 1024 * 1024)
        self.injections = StreamInjections(
            self.calls, self.streams, InjectSettings(s.inject_jitter_ms, s.inject_max_buffer_ms)
        )
        add_call_action_routes(self.router, self.calls, s.sounds_dir, self.sounds, self.injections)
        add_sip_routes(self.router, self.registrations, self.inbound)
        self.playback = PlaybackService(s, self.streams, self.public_ip, self.hooks)
        viewers = self.playback.playback.viewers
        add_stream_routes(
            self.router, self.streams, lambda: list(viewers.values()), urls=self._urls
        )
        self.playback.add_routes(self.router)
        add_web_routes(self.router)
        add_push_routes(self.router, self.pushes)
        add_recorder_routes(self.router, self.recorders)
        self.router.add("GET", "/health", self._health, auth=False)
        self.router.add("GET", "/metrics", self._metrics)
        add_openapi_route(self.router)
        self.http = HttpServer(
            self.router,
            host=s.bind_ip,
            port=s.http_port,
            max_body=s.rest_max_body,
            idle_timeout=s.http_idle_timeout,
            request_timeout=s.http_request_timeout,
            auth=s.rest_auth,
            cors_origin=s.cors_allow_origin,
            quota=Quota(
                "http_connections",
                fit_to_descriptors("http_connections", s.http_max_connections),
                s.http_max_connections_per_ip,
            ),
            rate=RateLimit("rest_requests", s.rest_rate_limit, s.rest_rate_burst),
        )
        self.started = time.time()
        self.metrics = ServerMetrics(self, REGISTRY)
        self.drain = Drain(self.calls, self.router)
        self.drain.install()
        self.drain.on_change(self._draining)
        self.cluster = None
        if s.cluster_redis_url:  # docs/cluster.md; without it Redis is never imported
            from wcs.cluster.setup import Cluster

            self.cluster = Cluster(self)

    def _draining(self) -> None:
        self.playback.playback.accepting = False
        if self.cluster is not None:
            self.cluster.node.info.draining = True

    def _demo_defaults(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.demo is None:
            return body
        return demo_defaults(self.demo.host, self.demo.port)(body)

    def _call_rtmp(self, call_id: str) -> tuple[str, str | None] | None:
        """Direct SIP-as-RTMP: where a call's stream goes (its rtmpUrl and rtmpStream)."""
        call = self.calls.get(call_id)
        if call is None or not call.request.rtmp_url:
            return None
        return call.request.rtmp_url, call.request.rtmp_stream

    def _call_push_status(self, call: Call) -> str | None:
        """``rtmpStreamStatus`` of a call: the status of the push of its stream to its rtmpUrl."""
        source = call.request.to_stream or f"{DIRECT_RTMP_PREFIX}{call.call_id}"
        for job in self.pushes.all():
            if job.source == source and job.request.rtmp_url == call.request.rtmp_url:
                return str(job.status.value)
        return None

    def _urls(self, name: str, host: str) -> dict[str, str]:
        """How to watch stream ``name`` (``/stream/find``), at the host the client used."""
        http_port = self.http.port
        return self.playout.urls(name, host or self.public_ip, http_port, self.playback.ws.port)

    def _on_sip_event(self, event: Event) -> None:
        if isinstance(event, IncomingCall):
            self.inbound.on_incoming(event)
            return
        self.registrations.on_sip_event(event)
        self.calls.on_sip_event(event)

    def _record_incoming(self, call: Call) -> None:
        """An incoming call whose dispatch says ``record``: its stream is recorded."""
        r = call.request
        if r.record and call.status == CallStatus.ESTABLISHED and r.to_stream:
            stream = self.streams.get(r.to_stream)
            if stream is not None and not self.recorders.auto:
                self.recorders.start(stream)

    async def _metrics(self, req: Request) -> Response:
        return Response(200, REGISTRY.render().encode(), {"content-type": METRICS_CONTENT_TYPE})

    async def _health(self, req: Request) -> Response:
        body: dict[str, Any] = {
            "status": "ok",
            "uptime": round(time.time() - self.started, 1),
            "calls": len(self.calls.all()),
            "streams": len(self.streams.all()),
        }
        if self.drain.active:
            body["status"] = "draining"
        if self.cluster is not None:
            body["cluster"] = cluster = self.cluster.health()
            if cluster["redis"] != "ok" and not self.drain.active:
                body["status"] = "degraded"  # still serving what this node holds
        return json_response(body)

    async def start(self) -> None:
        await self.sip.start()
        for reg in self._configured_regs:
            self.registrations.add(reg)
        if self.demo is not None:
            await self.demo.start()
        await self.playback.start()
        await self.playout.start()
        if self.cluster is not None:
            await self.cluster.start()
        # HTTP last: once /health answers, every listener (WS, WSS, media workers) is up.
        await self.http.start()
        self.metrics.start()
        log.info(
            "wcs listening: http %s, hls %d, rtsp %d, sip udp+tcp %s, media %d-%d, public ip %s",
            netaddr.hostport(self.settings.bind_ip, self.http.port),
            self.playout.http.port,
            self.playout.rtsp.port,
            netaddr.hostport(self.settings.bind_ip, self.sip.port),
            self.settings.media_port_from,
            self.settings.media_port_to,
            self.public_ip,
        )

    async def stop(self) -> None:
        """Clean shutdown: every call gets its BYE/CANCEL, every registration is removed."""
        self.metrics.close()
        await self.http.close()
        await self.playback.close()
        self.registrations.shutdown()
        await self.playout.close()
        self.calls.shutdown()
        self.injections.close()
        await self.pushes.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_GRACE_S
        while self.ua.active() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.cluster is not None:
            # After the calls ended: their entries are removed, not failed by the others.
            await self.cluster.close()
        self.aac.close()
        await self.recorders.close()
        await self.hooks.drain()
        await self.hooks.close()
        if self.demo is not None:
            await self.demo.close()
        await self.sip.close()
        log.info("wcs stopped")


T = TypeVar("T")


def _from_config(
    name: str, tables: tuple[dict[str, Any], ...], parse: Callable[[dict[str, Any]], T]
) -> list[T]:
    """The config's [[name]] tables, parsed like REST bodies (ConfigError names the entry)."""
    out = []
    for i, table in enumerate(tables):
        try:
            out.append(parse(table))
        except (BadRequest, RequestError) as exc:
            raise ConfigError(f"setting {name!r} entry {i + 1}: {exc}") from None
    return out


def sip_tls_config(s: Settings) -> SipTlsConfig:
    listen = s.sip_tls_port > 0
    if s.sip_tls_insecure:
        log.warning("sip_tls_insecure: SIP TLS server certificates are NOT verified")
    return SipTlsConfig(
        ca_file=s.sip_tls_ca_file,
        insecure=s.sip_tls_insecure,
        pin=s.sip_tls_pin,
        client_cert=s.sip_tls_client_cert,
        client_key=s.sip_tls_client_key,
        listen_port=s.sip_tls_port,
        server_cert=s.tls_cert if listen else "",
        server_key=s.tls_key if listen else "",
        keepalive=s.sip_keepalive_interval,
    )


def media_config(s: Settings) -> MediaConfig:
    return MediaConfig(
        init_packets=s.rtp_init_packets,
        activity_timeout=s.rtp_activity_timeout,
        jitter_latency=s.jitter_buffer_latency_ms / 1000 if s.jitter_buffer else None,
        reorder_latency=s.frame_reorder_ms / 1000,
        publish_early_media=s.publish_early_media,
        generate_av=s.generate_av,
        send_silence=s.rtp_send_silence,
        silence_early=s.rtp_silence_early_ms / 1000,
        dtmf=dtmf_settings(s),
        srtp=s.sip_srtp,
        srtp_suites=srtp_suites(s),
        srtp_over_plaintext=s.sip_srtp_over_plaintext,
        source_guard=GuardConfig(
            probation=s.rtp_probation_packets,
            latch_window=s.rtp_latch_window,
            silence=s.rtp_relatch_silence,
            max_sources=s.rtp_max_sources,
            timeout=s.rtp_source_timeout,
        ),
    )


def dtmf_settings(s: Settings) -> DtmfSettings:
    return DtmfSettings(tone_ms=s.dtmf_tone_ms, gap_ms=s.dtmf_gap_ms)


async def serve(settings: Settings) -> None:
    server = Server(settings)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        if settings.drain_timeout > 0:
            stop.clear()  # a second SIGTERM/SIGINT cuts the drain short
            waits = [
                asyncio.ensure_future(server.drain.run(settings.drain_timeout)),
                asyncio.ensure_future(stop.wait()),
            ]
            _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
    finally:
        log.info("shutting down")
        await server.stop()


def run(settings: Settings) -> int:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    choose_event_loop(settings.event_loop)
    try:
        asyncio.run(serve(settings))
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0
