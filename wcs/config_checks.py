"""Checks of one area of the settings each (SIP TLS, SRTP, DTMF, HLS, recording), run by
:func:`wcs.config.load_settings`; each raises :class:`~wcs.config.ConfigError` naming the
setting. (Imports inside the functions: the config stays importable without the media stack.)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wcs.config import Settings


def check_sip_tls(s: Settings) -> None:
    from wcs.config import ConfigError

    if s.sip_tls_port and not s.tls_cert:
        raise ConfigError("setting 'sip_tls_port': needs tls_cert and tls_key")
    for name in ("sip_tls_ca_file", "sip_tls_client_cert", "sip_tls_client_key"):
        path = getattr(s, name)
        if path and not Path(path).is_file():
            raise ConfigError(f"setting {name!r}: {path} is not a file")
    if bool(s.sip_tls_client_cert) != bool(s.sip_tls_client_key):
        raise ConfigError("settings 'sip_tls_client_cert'/'sip_tls_client_key': both or neither")
    if s.sip_tls_pin:
        try:
            if len(bytes.fromhex(s.sip_tls_pin.replace(":", ""))) != 32:
                raise ValueError
        except ValueError:
            raise ConfigError("setting 'sip_tls_pin': the SHA-256 of a certificate, hex") from None


def check_srtp(s: Settings) -> None:
    from wcs.config import ConfigError, srtp_suites
    from wcs.sdp.sdes import SUITES

    if s.sip_srtp not in ("auto", "off", "optional", "mandatory", "dtls"):
        raise ConfigError("setting 'sip_srtp': one of auto, off, optional, mandatory, dtls")
    unknown = [n for n in srtp_suites(s) if n not in SUITES]
    if unknown:
        raise ConfigError(f"setting 'sip_srtp_suites': unknown {unknown}; known: {list(SUITES)}")


def check_dtmf(s: Settings) -> None:
    from wcs.config import ConfigError
    from wcs.media.dtmf import MAX_TONE_MS, MIN_TONE_MS

    if not MIN_TONE_MS <= s.dtmf_tone_ms <= MAX_TONE_MS:
        raise ConfigError(f"setting 'dtmf_tone_ms': {MIN_TONE_MS}-{MAX_TONE_MS}")
    if not 20 <= s.dtmf_gap_ms <= 5000:
        raise ConfigError("setting 'dtmf_gap_ms': 20-5000")
    if s.sound_cache_entries < 0 or s.sound_cache_mb < 0:
        raise ConfigError("settings 'sound_cache_entries'/'sound_cache_mb': not negative")
    if not 0 <= s.inject_jitter_ms <= s.inject_max_buffer_ms or s.inject_max_buffer_ms > 5000:
        raise ConfigError(
            "settings 'inject_jitter_ms'/'inject_max_buffer_ms': 0 <= jitter <= max <= 5000"
        )


def check_hls(s: Settings) -> None:
    from wcs.config import ConfigError, hls_settings

    try:
        hls_settings(s)
    except ValueError as exc:
        raise ConfigError(f"settings 'hls_*': {exc}") from None
    if s.hls_idle_timeout <= 0 or s.rtsp_session_timeout <= 0:
        raise ConfigError("settings 'hls_idle_timeout'/'rtsp_session_timeout': must be positive")


def check_recording(s: Settings) -> None:
    from wcs.config import ConfigError
    from wcs.record.container import CONTAINERS
    from wcs.record.rotation import RotationError, parse_rotation
    from wcs.record.template import TemplateError, validate_template

    try:
        validate_template(s.record_template)
    except TemplateError as exc:
        raise ConfigError(f"setting 'record_template': {exc}") from None
    try:
        parse_rotation(s.record_rotation)
    except RotationError as exc:
        raise ConfigError(f"setting 'record_rotation': {exc}") from None
    if s.record_container.lower() not in CONTAINERS:
        raise ConfigError(f"setting 'record_container': one of {', '.join(CONTAINERS)}")
