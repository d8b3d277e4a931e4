"""Settings: defaults, TOML file, WCS_* environment, validation, masking, --print-config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wcs.cli import main
from wcs.config import ConfigError, Settings, load_settings, parse_hooks


def test_defaults_are_the_wcs_ports() -> None:
    s = load_settings(env={})
    assert (s.http_port, s.ws_port, s.sip_port) == (8081, 8080, 5060)
    assert (s.media_port_from, s.media_port_to) == (31001, 32000)
    assert s.rest_auth == ""


def test_file_then_environment_override(tmp_path: Path) -> None:
    f = tmp_path / "wcs.toml"
    f.write_text('http_port = 9000\nlog_level = "DEBUG"\njitter_buffer = true\n')
    s = load_settings(f, env={"WCS_HTTP_PORT": "18081", "WCS_SIP_T1": "0.05"})
    assert s.http_port == 18081  # environment beats the file
    assert s.log_level == "DEBUG" and s.jitter_buffer is True and s.sip_t1 == 0.05


def test_wcs_table_in_file(tmp_path: Path) -> None:
    f = tmp_path / "wcs.toml"
    f.write_text("[wcs]\nsip_port = 15060\n")
    assert load_settings(f, env={}).sip_port == 15060


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"WCS_HTTP_PORT": "eighty"}, "http_port"),
        ({"WCS_HTTP_PORT": "70000"}, "http_port"),
        ({"WCS_JITTER_BUFFER": "maybe"}, "jitter_buffer"),
        ({"WCS_REST_AUTH": "secret"}, "rest_auth"),
        ({"WCS_GENERATE_AV": "some"}, "generate_av"),
        ({"WCS_MEDIA_PORT_FROM": "5000", "WCS_MEDIA_PORT_TO": "4000"}, "media_port"),
        ({"WCS_WEBRTC_WORKERS": "-1"}, "webrtc_workers"),
        ({"WCS_WEBRTC_WORKERS": "two"}, "webrtc_workers"),
        ({"WCS_DTMF_TONE_MS": "10"}, "dtmf_tone_ms"),
        ({"WCS_DTMF_GAP_MS": "0"}, "dtmf_gap_ms"),
        ({"WCS_SOUND_CACHE_MB": "-1"}, "sound_cache"),
        ({"WCS_RTP_MAX_SOURCES": "0"}, "rtp_max_sources"),
        ({"WCS_RTP_PROBATION_PACKETS": "0"}, "rtp_probation_packets"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(env=env)


def test_unknown_file_setting_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "wcs.toml"
    f.write_text("htp_port = 1\n")
    with pytest.raises(ConfigError, match="htp_port"):
        load_settings(f, env={})


def test_secrets_are_masked() -> None:
    s = Settings(rest_auth="token:topsecret")
    assert "topsecret" not in json.dumps(s.masked())
    assert s.masked()["rest_auth"] == "********"


def test_print_config_masks_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WCS_REST_AUTH", "basic:admin:hunter22")
    monkeypatch.setenv("WCS_HTTP_PORT", "18081")
    assert main(["serve", "--print-config"]) == 0
    out = capsys.readouterr().out
    printed = json.loads(out)
    assert printed["http_port"] == 18081
    assert "hunter22" not in out and printed["rest_auth"] == "********"


def test_bad_config_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WCS_SIP_PORT", "x")
    assert main(["serve", "--print-config"]) == 2
    assert "sip_port" in capsys.readouterr().err


def test_hooks_spec() -> None:
    assert parse_hooks("a=http://h/x/, b=https://k") == {"a": "http://h/x", "b": "https://k"}
    with pytest.raises(ConfigError, match="rest_hooks"):
        parse_hooks("a=ftp://h")


def test_pushes_ask_for_a_keyframe_after_2_s_without_one_by_default() -> None:
    """Issue 18: with the defaults a player joining an RTMP push waited for the SIP device's
    next keyframe (> 5 s with baresip); CDNs want one every 2-4 s."""
    from wcs.rtmp.keyframes import KeyframePacer

    interval = load_settings(env={}).push_keyframe_interval
    assert interval == 2.0
    pacer = KeyframePacer(interval * 1000)
    asks = [pacer.on_frame(t, t == 0) for t in range(0, 5001, 100)]
    assert [t * 100 for t, ask in enumerate(asks) if ask] == [2000, 4000]


def test_limits_are_on_by_default_and_never_negative() -> None:
    s = load_settings(env={})
    assert s.http_max_connections and s.rest_rate_limit and s.ws_max_viewers_per_session
    assert s.sip_tcp_idle_timeout == 60.0 and s.max_calls_per_app_key
    with pytest.raises(ConfigError, match="max_viewers_per_ip"):
        load_settings(env={"WCS_MAX_VIEWERS_PER_IP": "-1"})
