"""What ``/metrics`` shows about a running server, read from its parts at scrape time.

Calls by status (current and transitions), streams by status, viewers, packets and bytes
received from SIP peers and sent to viewers, packet loss, event-loop lag, the demo callee.
RTMP pushes and recordings by their managers' state. Other parts may register their own
metrics in :data:`wcs.observability.metrics.REGISTRY`; DTLS and SRTP failure counters are
defined there.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter as Tally
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any

from wcs import __version__
from wcs.app.call import CallStatus
from wcs.observability.loop_lag import LoopLagMonitor
from wcs.observability.metrics import DeltaTotals, Labels, Registry, Sample

if TYPE_CHECKING:
    from wcs.server import Server

_NAMES = (
    "wcs_info",
    "wcs_uptime_seconds",
    "wcs_calls",
    "wcs_call_status_changes_total",
    "wcs_dtmf_received_total",
    "wcs_call_injections",
    "wcs_call_injection_underruns_total",
    "wcs_call_injection_dropped_seconds_total",
    "wcs_call_injection_buffer_max_seconds",
    "wcs_streams",
    "wcs_stream_subscribers",
    "wcs_viewers",
    "wcs_rtp_received_packets_total",
    "wcs_rtp_received_bytes_total",
    "wcs_rtp_lost_packets_total",
    "wcs_rtp_sent_packets_total",
    "wcs_rtp_sent_bytes_total",
    "wcs_rtp_dropped_packets_total",
    "wcs_webrtc_send_errors_total",
    "wcs_media_workers",
    "wcs_media_worker_drops_total",
    "wcs_event_loop_lag_seconds",
    "wcs_event_loop_lag_max_seconds",
    "wcs_asyncio_tasks",
    "wcs_pushes",
    "wcs_push_reconnects_total",
    "wcs_recordings",
    "wcs_aac_stages",
    "wcs_hls_outputs",
    "wcs_hls_requests_total",
    "wcs_hls_hold_timeouts_total",
    "wcs_rtsp_clients",
    "wcs_rtsp_dropped_clients_total",
    "wcs_demo_calls_total",
    "wcs_demo_sent_packets_total",
    "wcs_demo_sent_bytes_total",
    "wcs_sip_keepalive_probes_total",
    "wcs_sip_flow_reregistrations_total",
)


class ServerMetrics:
    def __init__(self, server: Server, registry: Registry) -> None:
        self.server = server
        self.registry = registry
        self.lag = LoopLagMonitor()
        self._loop = asyncio.get_running_loop()  # the Server is built inside its loop
        self._received_packets = DeltaTotals()
        self._received_bytes = DeltaTotals()
        self._lost = DeltaTotals()
        self._sent_packets = DeltaTotals()
        self._sent_bytes = DeltaTotals()
        self._dropped = DeltaTotals()
        self._send_errors = DeltaTotals()
        self._reconnects = DeltaTotals()
        r = registry
        r.collect(
            "wcs_info",
            "Version of this server",
            "gauge",
            lambda: [Sample((__version__,), 1)],
            ("version",),
        )
        r.collect(
            "wcs_uptime_seconds",
            "Seconds since the server started",
            "gauge",
            lambda: [Sample((), round(time.time() - server.started, 3))],
        )
        r.collect("wcs_calls", "Calls now, by status", "gauge", self._calls, ("status",))
        r.collect(
            "wcs_call_status_changes_total",
            "Calls that reached each status (FINISH, FAILED, BUSY: ended calls)",
            "counter",
            self._call_changes,
            ("status",),
        )
        r.collect(
            "wcs_dtmf_received_total",
            "DTMF keys received from SIP peers, each once, by carrier (RFC2833, INFO, INFO_RELAY)",
            "counter",
            lambda: [
                Sample((kind,), n)
                for kind, n in sorted(server.calls.actions.dtmf_received_total.items())
            ],
            ("type",),
        )
        self._injections(r)
        r.collect("wcs_streams", "Streams now, by status", "gauge", self._streams, ("status",))
        r.collect(
            "wcs_stream_subscribers",
            "Packet and frame sinks on all streams",
            "gauge",
            self._subscribers,
        )
        r.collect(
            "wcs_viewers", "WebRTC viewers now, by status", "gauge", self._viewers, ("status",)
        )
        r.collect(
            "wcs_rtp_received_packets_total",
            "RTP packets received from SIP peers",
            "counter",
            lambda: self._rx("packets", self._received_packets),
            ("kind",),
        )
        r.collect(
            "wcs_rtp_received_bytes_total",
            "RTP bytes (whole packets) received from SIP peers",
            "counter",
            lambda: self._rx("octets", self._received_bytes),
            ("kind",),
        )
        r.collect(
            "wcs_rtp_lost_packets_total",
            "RTP packets lost on the way from SIP peers (sequence gaps)",
            "counter",
            lambda: self._rx("lost", self._lost),
            ("kind",),
        )
        r.collect(
            "wcs_rtp_sent_packets_total",
            "RTP packets sent to WebRTC viewers",
            "counter",
            lambda: self._tx("packets", self._sent_packets),
            ("kind",),
        )
        r.collect(
            "wcs_rtp_sent_bytes_total",
            "RTP payload bytes sent to WebRTC viewers",
            "counter",
            lambda: self._tx("octets", self._sent_bytes),
            ("kind",),
        )
        r.collect(
            "wcs_rtp_dropped_packets_total",
            "RTP/RTCP packets dropped: not from the call's accepted media source",
            "counter",
            lambda: [
                Sample((*s.labels, "source"), s.value)
                for s in self._rx("droppedSource", self._dropped)
            ],
            ("kind", "reason"),
        )
        r.collect(
            "wcs_webrtc_send_errors_total",
            "Packets to viewers that failed to send",
            "counter",
            self._tx_errors,
        )
        r.collect(
            "wcs_media_workers",
            "Media worker processes running (webrtc_workers)",
            "gauge",
            lambda: self._workers(lambda ws: sum(w.alive for w in ws)),
        )
        r.collect(
            "wcs_media_worker_drops_total",
            "Source packets not handed to a media worker (its socket full or closed)",
            "counter",
            lambda: self._workers(lambda ws: sum(w.media_drops for w in ws)),
        )
        r.collect(
            "wcs_event_loop_lag_seconds",
            "How late a 0.5 s timer ran, last time",
            "gauge",
            lambda: [Sample((), round(self.lag.last, 6))],
        )
        r.collect(
            "wcs_event_loop_lag_max_seconds",
            "The largest event-loop lag seen",
            "gauge",
            lambda: [Sample((), round(self.lag.max, 6))],
        )
        r.collect(
            "wcs_asyncio_tasks",
            "asyncio tasks alive on the server's event loop (a leak shows as growth)",
            "gauge",
            lambda: [Sample((), len(asyncio.all_tasks(self._loop)))],
        )
        r.collect(
            "wcs_pushes",
            "RTMP republishing jobs now, by status",
            "gauge",
            self._pushes,
            ("status",),
        )
        r.collect(
            "wcs_push_reconnects_total",
            "RTMP reconnect attempts of live push jobs",
            "counter",
            self._push_reconnects,
        )
        r.collect("wcs_recordings", "Recordings in progress", "gauge", self._recordings)
        self._playout(r)
        r.collect(
            "wcs_sip_keepalive_probes_total",
            "Keep-alive OPTIONS sent to registrars (registrations over TCP/TLS)",
            "counter",
            lambda: [Sample((), float(self.server.ua.keepalive_stats[0]))],
        )
        r.collect(
            "wcs_sip_flow_reregistrations_total",
            "REGISTERs sent again because a registration's connection was lost or its "
            "keep-alives failed",
            "counter",
            lambda: [Sample((), float(self.server.ua.keepalive_stats[1]))],
        )
        r.collect(
            "wcs_demo_calls_total",
            "Calls the demo callee answered",
            "counter",
            lambda: self._demo("calls_total"),
        )
        r.collect(
            "wcs_demo_sent_packets_total",
            "RTP packets the demo callee sent",
            "counter",
            lambda: self._demo("packets_sent"),
        )
        r.collect(
            "wcs_demo_sent_bytes_total",
            "RTP bytes the demo callee sent",
            "counter",
            lambda: self._demo("bytes_sent"),
        )

    def start(self) -> None:
        self.lag.start()

    def close(self) -> None:
        self.lag.stop()
        for name in _NAMES:
            self.registry.unregister(name)

    # ---------------------------------------------------------------- collectors
    def _calls(self) -> Iterable[Sample]:
        tally = Tally(c.status.value for c in self.server.calls.all())
        return [Sample((s.value,), tally.get(s.value, 0)) for s in CallStatus]

    def _call_changes(self) -> Iterable[Sample]:
        counters = self.server.calls.counters
        return [Sample((s.value,), counters.get(s.value, 0)) for s in CallStatus]

    def _streams(self) -> Iterable[Sample]:
        tally = Tally(s.status.value for s in self.server.streams.all())
        return [Sample((k,), v) for k, v in sorted(tally.items())]

    def _subscribers(self) -> Iterable[Sample]:
        return [Sample((), sum(s.subscribers for s in self.server.streams.all()))]

    def _viewer_list(self) -> list[Any]:
        playback = getattr(self.server, "playback", None)
        inner = getattr(playback, "playback", None)
        viewers = getattr(inner, "viewers", None)
        return list(viewers.values()) if isinstance(viewers, dict) else []

    def _viewers(self) -> Iterable[Sample]:
        tally = Tally(str(v.status) for v in self._viewer_list())
        return [Sample((k,), v) for k, v in sorted(tally.items())]

    def _rx(self, field: str, totals: DeltaTotals) -> Iterable[Sample]:
        current: dict[tuple[Hashable, Labels], float] = {}
        for stream in self.server.streams.all():
            for kind, s in stream.stats().items():
                current[((stream.media_session_id, kind), (kind,))] = float(s.get(field, 0) or 0)
        return _samples(totals.update(current))

    def _tx(self, field: str, totals: DeltaTotals) -> Iterable[Sample]:
        current: dict[tuple[Hashable, Labels], float] = {}
        for viewer in self._viewer_list():
            tracks = viewer.peer.stats().get("tracks", {})
            for kind, s in tracks.items():
                current[((viewer.media_session_id, kind), (kind,))] = float(s.get(field, 0) or 0)
        return _samples(totals.update(current))

    def _tx_errors(self) -> Iterable[Sample]:
        current: dict[tuple[Hashable, Labels], float] = {
            (v.media_session_id, ()): float(v.peer.stats().get("send_errors", 0) or 0)
            for v in self._viewer_list()
        }
        totals = self._send_errors.update(current)
        return [Sample((), totals.get((), 0.0))]

    def _workers(self, value: Callable[[list[Any]], float]) -> Iterable[Sample]:
        playback = getattr(self.server, "playback", None)
        pool = getattr(playback, "workers", None)
        return [Sample((), float(value(pool.workers) if pool is not None else 0))]

    def _pushes(self) -> Iterable[Sample]:
        pushes = getattr(self.server, "pushes", None)
        jobs = pushes.all() if pushes is not None else []
        tally = Tally(str(job.status.value) for job in jobs)
        return [Sample((k,), v) for k, v in sorted(tally.items())]

    def _push_reconnects(self) -> Iterable[Sample]:
        pushes = getattr(self.server, "pushes", None)
        current: dict[tuple[Hashable, Labels], float] = {
            (job.media_session_id, ()): float(job.reconnects)
            for job in (pushes.all() if pushes is not None else [])
        }
        return [Sample((), self._reconnects.update(current).get((), 0.0))]

    def _playout(self, r: Registry) -> None:
        """HLS, RTSP and the shared AAC stages (read from ``server.playout`` at scrape)."""

        def read(get: Callable[[Any], int]) -> Callable[[], Iterable[Sample]]:
            def collect() -> Iterable[Sample]:
                playout = getattr(self.server, "playout", None)
                return [Sample((), get(playout) if playout is not None else 0)]

            return collect

        rows: tuple[tuple[str, str, str, Callable[[Any], int]], ...] = (
            ("wcs_aac_stages", "Streams with a shared AAC encoder now", "gauge",
             lambda p: len(p.aac)),
            ("wcs_hls_outputs", "Streams with HLS output now", "gauge", lambda p: len(p.hls)),
            ("wcs_hls_hold_timeouts_total", "Held HLS requests answered 503 (hold limit)",
             "counter", lambda p: p.hls_api.held_timeouts),
            ("wcs_rtsp_clients", "RTSP control connections now", "gauge",
             lambda p: len(p.rtsp.clients)),
            ("wcs_rtsp_dropped_clients_total",
             "RTSP connections dropped: over the cap or not reading", "counter",
             lambda p: p.rtsp.dropped_clients + p.rtsp.stalled_clients),
        )  # fmt: skip
        for name, text, kind, get in rows:
            r.collect(name, text, kind, read(get))
        r.collect(
            "wcs_hls_requests_total",
            "HLS HTTP requests reaching us, by kind (playlist, blocking_playlist, init, "
            "segment, part, other)",
            "counter",
            self._hls_requests,
            ("kind",),
        )

    def _hls_requests(self) -> Iterable[Sample]:
        playout = getattr(self.server, "playout", None)
        counts = playout.hls_api.requests if playout is not None else {}
        kinds = ("playlist", "blocking_playlist", "init", "segment", "part", "other")
        return [Sample((k,), float(counts.get(k, 0))) for k in kinds]

    def _injections(self, r: Registry) -> None:
        """Streams injected into calls (/call/inject_stream) and their jitter buffers."""

        def read(get: Callable[[Any], float]) -> Callable[[], Iterable[Sample]]:
            def collect() -> Iterable[Sample]:
                inj = getattr(self.server, "injections", None)
                return [Sample((), float(get(inj)) if inj is not None else 0.0)]

            return collect

        rows: tuple[tuple[str, str, str, Callable[[Any], float]], ...] = (
            ("wcs_call_injections", "Calls with a stream injected now", "gauge", len),
            ("wcs_call_injection_underruns_total",
             "Slots an injected stream could not fill (silence sent instead)", "counter",
             lambda i: i.underruns_total),
            ("wcs_call_injection_dropped_seconds_total",
             "Injected audio dropped over the buffer limit (inject_max_buffer_ms)", "counter",
             lambda i: i.dropped_ms_total / 1000),
            ("wcs_call_injection_buffer_max_seconds",
             "The per-call buffer limit of injected audio (inject_max_buffer_ms)", "gauge",
             lambda i: i.settings.max_buffer_ms / 1000),
        )  # fmt: skip
        for name, text, kind, get in rows:
            r.collect(name, text, kind, read(get))

    def _recordings(self) -> Iterable[Sample]:
        recorders = getattr(self.server, "recorders", None)
        return [Sample((), len(recorders.all()) if recorders is not None else 0)]

    def _demo(self, attr: str) -> Iterable[Sample]:
        demo = self.server.demo
        return [Sample((), float(getattr(demo, attr)) if demo is not None else 0.0)]


def _samples(totals: dict[Labels, float]) -> list[Sample]:
    for kind in ("audio", "video"):
        totals.setdefault((kind,), 0.0)
    return [Sample(k, v) for k, v in sorted(totals.items())]
