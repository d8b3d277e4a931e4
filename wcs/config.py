"""One typed settings object: defaults, then a TOML file, then ``WCS_<NAME>`` variables.

Every field of :class:`Settings` is a setting. Its WCS equivalent (where one is known) is
given in ``docs/settings.md``. Values from the environment are parsed by the field's type,
so ``WCS_HTTP_PORT=18081`` and ``WCS_JITTER_BUFFER=true`` work as expected.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_type_hints

from wcs import netaddr
from wcs.cluster.settings import validate_cluster
from wcs.config_checks import check_dtmf, check_hls, check_recording, check_sip_tls, check_srtp

if TYPE_CHECKING:
    from wcs.hls import HlsSettings

ENV_PREFIX = "WCS_"
SECRET_FIELDS = frozenset({"rest_auth", "cluster_redis_url"})  # a URL may hold a password
# Arrays of tables (issue 12): [[sip_registration]] = /sip/register bodies, [[sip_trunk]]
# inbound trunks; their password keys are secrets too.
TABLE_ARRAYS = ("sip_registration", "sip_trunk")
SECRET_KEYS = frozenset({"sipPassword", "password", "pin"})
MASK = "********"


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the setting."""


@dataclass(frozen=True, slots=True)
class Settings:
    # Network
    bind_ip: str = "0.0.0.0"
    public_ip: str = ""  # empty: the address of the interface that reaches the outside
    http_port: int = 8081
    ws_port: int = 8080
    wss_port: int = 8443  # only listened on when tls_cert and tls_key are set
    tls_cert: str = ""  # PEM certificate (chain) file for wss
    tls_key: str = ""  # PEM private key file for wss
    webrtc_ice_timeout: float = 30.0  # no ICE check from a viewer this long: FAILED
    webrtc_consent_timeout: float = 30.0  # viewer silent this long (RFC 7675): FAILED, freed
    webrtc_workers: int = 0  # 0: viewers served in-process; N: N media worker processes
    sip_port: int = 5060  # local SIP port, UDP and TCP
    media_port_from: int = 31001
    media_port_to: int = 32000
    # REST
    rest_auth: str = ""  # "" (off), "token:SECRET" or "basic:USER:PASSWORD"
    rest_max_body: int = 1_048_576
    http_idle_timeout: float = 30.0
    http_request_timeout: float = 10.0
    cors_allow_origin: str = "*"
    # REST hooks: appKey -> backend base URL ("defaultApp=http://host/app,other=...")
    rest_hooks: str = ""
    rest_hook_timeout: float = 5.0
    rest_hook_retries: int = 2
    # Limits (0: unlimited), all shown in /metrics (wcs_limit, wcs_limit_rejections_total)
    http_max_connections: int = 1000  # REST/WHEP listener; over it: 503 and closed
    http_max_connections_per_ip: int = 100
    rest_rate_limit: float = 100.0  # REST requests per second per source IP; over it: 429
    rest_rate_burst: int = 200
    ws_max_sessions: int = 1000  # WebSocket signaling connections (ws + wss)
    ws_max_sessions_per_ip: int = 50
    ws_max_viewers_per_session: int = 20  # playStream of one WebSocket session
    max_viewers_per_ip: int = 100  # viewers (WebSocket plays and WHEP) of one address
    ws_max_message: int = 262_144  # bytes of one WebSocket message; over it: closed 1009
    ws_fragment_timeout: float = 10.0  # a fragmented message must be whole within this (s)
    sip_tcp_max_connections: int = 500  # accepted SIP TCP connections
    sip_tcp_max_connections_per_ip: int = 50
    sip_tcp_idle_timeout: float = 60.0  # accepted SIP TCP connection without traffic/dialog
    max_calls_per_app_key: int = 100  # live calls of one appKey; over it: 429
    # SIP
    sip_user_agent: str = "wcs/0.1"
    sip_t1: float = 0.5
    sip_t2: float = 4.0
    sip_t4: float = 5.0
    sip_register_expires: int = 600
    sip_session_expires: int = 1800  # RFC 4028, 0 disables
    sip_min_se: int = 90
    sip_register_retry: float = 30.0  # a failed registration: again after this, doubled...
    sip_register_retry_max: float = 600.0  # ...up to this
    # Registrations over TCP/TLS: OPTIONS to the registrar every N s (0: none); this many
    # failures in a row (or the connection lost) register again at once
    sip_register_keepalive: float = 30.0
    sip_register_keepalive_failures: int = 2
    # Incoming calls: our registrations and inbound trunks (docs/receiving-calls.md)
    sip_registration: tuple[dict[str, Any], ...] = ()
    sip_trunk: tuple[dict[str, Any], ...] = ()
    inbound_pin_timeout: float = 20.0  # a dispatch's pin: seconds to key it and '#'
    # SRTP (SDES, RFC 4568) toward SIP peers: off, optional, mandatory; auto: optional over
    # TLS, off over UDP/TCP. Suites offered, in order (empty: all four we know).
    sip_srtp: str = "auto"
    sip_srtp_suites: str = ""
    sip_srtp_over_plaintext: bool = False  # SDES keys readable on UDP/TCP SIP: a warning
    # SIP over TLS (sipTransport "TLS"): the server certificate is checked against the system
    # CA store, or sip_tls_ca_file; sip_tls_insecure / sip_tls_pin skip that explicitly.
    sip_tls_port: int = 0  # our TLS listener (with tls_cert/tls_key); 0: none
    sip_tls_ca_file: str = ""
    sip_tls_insecure: bool = False  # accept any server certificate (warning per connection)
    sip_tls_pin: str = ""  # SHA-256 (hex) of the one server certificate accepted
    sip_tls_client_cert: str = ""  # optional client certificate (PEM) and its key
    sip_tls_client_key: str = ""
    sip_keepalive_interval: float = 30.0  # CRLF keep-alive on the SIP TLS connections we open
    # The peer's REFER inside a call: 603 Decline, or (true) we call the Refer-To target and
    # the new call takes over the stream (issue 19, docs/settings.md)
    sip_allow_refer: bool = False
    # Media
    rtp_init_packets: bool = True  # send a few packets so NATs/SBCs open (WCS known issue 1)
    rtp_activity_timeout: float = 0.0  # seconds without RTP before FAILED; 0 disables
    jitter_buffer: bool = False  # WCS known issue 3
    jitter_buffer_latency_ms: int = 60
    frame_reorder_ms: int = 60  # in-order frames for recording/RTMP/HLS without the jitter buffer
    publish_early_media: bool = False
    generate_av: str = "none"  # "none", "video", "audio", "all": fill missing tracks
    rtp_send_silence: bool = True  # audio silence to the SIP peer every 20 ms (keeps the path)
    # A silence packet may leave up to this early when the call is awake anyway (a packet
    # from the peer): one timer wake-up less per 20 ms; < ptime; 0 keeps exact slot times
    rtp_silence_early_ms: int = 10
    # RTP source validation (wcs.rtp.source_guard): who may feed a call's stream
    rtp_probation_packets: int = 2  # in-sequence packets before a new source/SSRC is taken
    rtp_latch_window: float = 10.0  # s after the answer an address not in the SDP may latch
    rtp_relatch_silence: float = 3.0  # s the source must be silent before another may latch
    rtp_max_sources: int = 8  # SSRCs tracked per m-line (candidates, statistics)
    rtp_source_timeout: float = 30.0  # s of silence before a candidate/old SSRC is forgotten
    # RTMP republishing
    rtmp_flash_version: str = "FMLE/3.0 (compatible; wcs)"  # WCS rtmpFlashVersion
    rtmp_stream_prefix: str = "rtmp_"  # /push/startup publishes <prefix><streamName>
    rtmp_g711_passthrough: bool = False  # FLV sound format 7/8 instead of AAC
    push_reconnect_attempts: int = 0  # 0: a failed push stays FAILED
    push_reconnect_backoff: float = 2.0  # seconds before the first retry, doubled each time
    push_source_timeout: float = 60.0  # s a push waits for its source stream; 0: no limit
    push_keyframe_interval: float = 2.0  # ask the source for a keyframe after this long (s); 0 off
    vp8_keyframe_interval: float = 2.0  # H.264 made from a VP8 publisher: an IDR this often (s)
    vp8_transcode_queue: int = 30  # VP8 frames waiting for the transcoder; more are dropped
    sounds_dir: str = "sounds"  # /push/sound_on soundFile names are files in this directory
    # HLS / LL-HLS (http://HOST:hls_port/{stream}/{stream}.m3u8) and RTSP playback
    hls_port: int = 8082  # WCS hls port
    hls_tls_port: int = 8445  # https HLS; listened on only when tls_cert and tls_key are set
    hls_target_duration: float = 2.0  # segment target (s); keyframes are asked for to meet it
    hls_part_target: float = 0.33334  # LL-HLS partial segment target (s)
    hls_low_latency: bool = True  # EXT-X-PART, preload hints, blocking reload
    hls_window: int = 6  # complete segments listed in the playlist
    hls_always: bool = False  # start HLS when a stream is published, not on first request
    hls_idle_timeout: float = 60.0  # stop a stream's HLS after this long without a request
    rtsp_port: int = 8554  # rtsp://HOST:rtsp_port/{stream}
    rtsp_session_timeout: float = 60.0  # an RTSP session without keep-alive ends (s)
    hls_max_connections: int = 2000  # HLS listener(s); over it: 503 and closed
    hls_max_connections_per_ip: int = 0  # 0: none (a CDN asks from a few addresses)
    rtsp_max_connections: int = 200  # RTSP control connections; over it: closed at once
    # Taking part in a call: DTMF we send, sounds injected into calls (issue 19)
    dtmf_tone_ms: int = 160  # length of each key we send (RFC 4733 duration, INFO Duration)
    dtmf_gap_ms: int = 100  # pause between two keys
    cluster_redis_url: str = ""  # redis://host:6379/0; "" = one node (docs/cluster.md)
    node_id: str = ""  # "" = <host name>:<http_port>
    node_role: str = "both"  # origin (calls), edge (relayed viewers) or both
    cluster_heartbeat_ttl: float = 10.0  # a silent node is FAILED cluster-wide within this (s)
    cluster_rpc_timeout: float = 3.0  # request to another node unanswered: 503 (s)
    cluster_relay_auth: str = "mac"  # origin->edge relay packets: mac, or none (trusted net)
    cluster_relay_grace: float = 5.0  # relay kept this long after the edge's last viewer (s)
    cluster_max_relays: int = 200  # relays this node serves as origin; over it: refused
    cluster_upstream: str = ""  # node to pull relays from (edge of an edge); "" = the origin
    sound_cache_entries: int = 16  # decoded sounds kept for /call/inject_sound
    sound_cache_mb: int = 64  # and at most this much decoded PCM
    # Streams injected into calls (/call/inject_stream): the audio's jitter buffer
    inject_jitter_ms: int = 60  # buffered before it plays (again after an underrun)
    inject_max_buffer_ms: int = 300  # never more: older audio is dropped (bounds delay, memory)
    # Recording
    record_dir: str = "records"
    record_sip_streams: bool = False  # record every SIP-captured stream automatically
    record_template: str = "{streamName}-{startTime}"  # WCS stream_record_policy_template
    record_container: str = "auto"  # auto (by codecs), mp4, mkv, webm
    record_rotation: str = ""  # "" off, size ("20M") or duration ("60s", "10m")
    on_record_hook: str = ""  # command run with (streamName, filePath) after each file
    # Demo callee: /call/startup with callee "demo" and no sipDomain reaches a built-in SIP
    # endpoint on loopback that answers with a test card and a tone (docs/settings.md).
    demo_callee: bool = True
    # Misc
    drain_timeout: float = 0.0  # SIGTERM: refuse new work, wait this long for calls (0: no)
    log_level: str = "INFO"
    event_loop: str = "auto"  # auto (uvloop when installed), uvloop, asyncio

    def masked(self) -> dict[str, Any]:
        """The settings as a dict, secrets replaced by a mask (for --print-config, logs)."""
        out = dataclasses.asdict(self)
        for name in SECRET_FIELDS:
            if out.get(name):
                out[name] = MASK
        for name in TABLE_ARRAYS:
            out[name] = [
                {k: MASK if k in SECRET_KEYS and v else v for k, v in table.items()}
                for table in out[name]
            ]
        return out

    def effective_public_ip(self) -> str:
        return self.public_ip or default_public_ip(self.bind_ip)


def default_public_ip(bind_ip: str = "0.0.0.0") -> str:
    """The address of the interface the default route uses (no packet is sent).

    A specific bind address is its own public address. ``0.0.0.0`` and ``::`` both take the
    IPv4 route's interface (``::`` serves IPv4 too; set public_ip for an IPv6 one)."""
    if bind_ip not in ("", "0.0.0.0", "::"):
        return bind_ip
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: only selects a route, sends nothing
        return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(name: str, typ: Any, value: Any) -> Any:
    if name in TABLE_ARRAYS:
        # from the environment: the tables as a JSON array of objects
        try:
            return _tables(name, json.loads(value) if isinstance(value, str) else value)
        except json.JSONDecodeError:
            raise ConfigError(f"setting {name!r}: not a JSON array of objects") from None
    try:
        if typ is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(value)
        if typ is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if typ is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if typ is str:
            if not isinstance(value, str | int | float):
                raise ValueError(value)
            return str(value)
    except ValueError:
        raise ConfigError(f"setting {name!r}: {value!r} is not a valid {typ.__name__}") from None
    raise ConfigError(f"setting {name!r}: unsupported type")


def _tables(name: str, value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ConfigError(f"setting {name!r}: an array of tables ([[{name}]])")
    return tuple(value)


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults < TOML file < environment (``WCS_<NAME>``) < explicit overrides."""
    env = os.environ if env is None else env
    hints = get_type_hints(Settings)
    known = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        # Accept both a flat file and a [wcs] table.
        table = dict(data.get("wcs", data))
        for key in TABLE_ARRAYS:
            if key in table:
                values[key] = _tables(key, table.pop(key))
        for key, value in table.items():
            if key not in known:
                raise ConfigError(f"config file {path}: unknown setting {key!r}")
            values[key] = _coerce(key, hints[key], value)
    for key in known:
        env_value = env.get(ENV_PREFIX + key.upper())
        if env_value is not None:
            values[key] = _coerce(key, hints[key], env_value)
    for key, value in (overrides or {}).items():
        if key not in known:
            raise ConfigError(f"unknown setting {key!r}")
        values[key] = _coerce(key, hints[key], value)
    settings = Settings(**values)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    ports = ("http_port", "ws_port", "wss_port", "sip_port", "sip_tls_port", "media_port_from",
             "media_port_to", "hls_port", "hls_tls_port", "rtsp_port")  # fmt: skip
    for name in ports:
        port = getattr(s, name)
        if not 0 <= port <= 65535:
            raise ConfigError(f"setting {name!r}: {port} is not a port number")
    if s.frame_reorder_ms < 0 or s.jitter_buffer_latency_ms < 0:
        raise ConfigError("settings 'frame_reorder_ms'/'jitter_buffer_latency_ms': negative")
    if s.rtp_silence_early_ms < 0:
        raise ConfigError(f"setting 'rtp_silence_early_ms': {s.rtp_silence_early_ms} is negative")
    if s.webrtc_workers < 0:
        raise ConfigError(f"setting 'webrtc_workers': {s.webrtc_workers} is negative (0: none)")
    for f in fields(Settings):
        limit = f.name.startswith(
            ("http_max", "rest_rate", "ws_max", "sip_tcp", "max_", "hls_max", "rtsp_max")
        )
        if limit and getattr(s, f.name) < 0:
            raise ConfigError(f"setting {f.name!r}: negative (0: unlimited)")
    if s.media_port_to - s.media_port_from < 1:
        raise ConfigError("settings 'media_port_from'/'media_port_to': empty range")
    _validate_addresses(s)
    if s.rest_auth and not (
        s.rest_auth.startswith("token:")
        or (s.rest_auth.count(":") >= 2 and s.rest_auth.startswith("basic:"))
    ):
        raise ConfigError("setting 'rest_auth': use 'token:SECRET' or 'basic:USER:PASSWORD'")
    if bool(s.tls_cert) != bool(s.tls_key):
        raise ConfigError("settings 'tls_cert'/'tls_key': give both or neither")
    check_srtp(s)
    check_sip_tls(s)
    if s.sip_register_keepalive < 0:
        raise ConfigError("setting 'sip_register_keepalive': negative (0: no keep-alive)")
    for name in ("rtp_max_sources", "rtp_probation_packets", "sip_register_keepalive_failures"):
        if getattr(s, name) < 1:
            raise ConfigError(f"setting {name!r}: at least 1")
    if s.generate_av not in ("none", "video", "audio", "all"):
        raise ConfigError("setting 'generate_av': one of none, video, audio, all")
    check_recording(s)
    check_hls(s)
    check_dtmf(s)
    validate_cluster(s)
    if s.vp8_keyframe_interval <= 0 or s.vp8_transcode_queue < 1:
        raise ConfigError("settings 'vp8_keyframe_interval'/'vp8_transcode_queue': positive")
    if s.event_loop not in ("auto", "uvloop", "asyncio"):
        raise ConfigError("setting 'event_loop': one of auto, uvloop, asyncio")
    if s.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError("setting 'log_level': one of DEBUG, INFO, WARNING, ERROR")


def srtp_suites(s: Settings) -> tuple[str, ...]:
    from wcs.sdp.sdes import DEFAULT_SUITES

    names = tuple(n.strip() for n in s.sip_srtp_suites.split(",") if n.strip())
    return names or DEFAULT_SUITES


def _validate_addresses(s: Settings) -> None:
    """IP literals; public_ip of a family the bind can serve (``::`` serves both)."""
    try:
        netaddr.check_ip("bind_ip", s.bind_ip)
        if s.public_ip:
            netaddr.check_ip("public_ip", s.public_ip)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    families_differ = netaddr.is_ipv6(s.public_ip) != netaddr.is_ipv6(s.bind_ip)
    if s.public_ip and families_differ and not netaddr.is_dual_stack(s.bind_ip):
        raise ConfigError(
            f"settings 'bind_ip'/'public_ip': {s.public_ip} cannot be reached through "
            f"sockets bound to {s.bind_ip} (use '::' to serve both families)"
        )


def hls_settings(s: Settings) -> HlsSettings:
    """The segmenter's rules from the settings (a ValueError names what is wrong)."""
    from wcs.hls import HlsSettings  # here: config stays importable without the media stack

    return HlsSettings(
        target_duration=s.hls_target_duration,
        part_target=s.hls_part_target,
        window=s.hls_window,
        low_latency=s.hls_low_latency,
    )


def parse_hooks(spec: str) -> dict[str, str]:
    """``"appA=http://x/a,appB=http://y/b"`` -> ``{"appA": "http://x/a", ...}``."""
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, url = item.partition("=")
        if not sep or not key or not url.startswith(("http://", "https://")):
            raise ConfigError(f"setting 'rest_hooks': bad entry {item!r} (want appKey=http://...)")
        out[key.strip()] = url.strip().rstrip("/")
    return out


__all__ = [
    "ConfigError",
    "Settings",
    "default_public_ip",
    "load_settings",
    "parse_hooks",
    "srtp_suites",
]
