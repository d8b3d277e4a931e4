"""``/stream/find`` ``urls``: where a stream plays, at the host the client asked."""

from __future__ import annotations

from wcs.app.playout import rtsp_auth, stream_urls

PORTS = {"http": 8081, "ws": 8080, "hls": 8082, "rtsp": 8554}


def test_urls_use_the_clients_host_and_escape_the_name() -> None:
    urls = stream_urls("a b/c", "media.example:8081", hls_tls=None, **PORTS)
    assert urls == {
        "webrtc": "ws://media.example:8080",
        "whep": "http://media.example:8081/whep/a%20b%2Fc",
        "hls": "http://media.example:8082/a%20b%2Fc/a%20b%2Fc.m3u8",
        "rtsp": "rtsp://media.example:8554/a%20b%2Fc",
    }


def test_ipv6_hosts_are_bracketed_once_and_tls_adds_https_hls() -> None:
    urls = stream_urls("s", "[::1]:8081", hls_tls=8445, **PORTS)
    assert urls["hls"] == "http://[::1]:8082/s/s.m3u8"
    assert urls["hlsTls"] == "https://[::1]:8445/s/s.m3u8"
    assert stream_urls("s", "2001:db8::1", hls_tls=None, **PORTS)["rtsp"] == (
        "rtsp://[2001:db8::1]:8554/s"
    )


def test_rtsp_auth_follows_rest_auth() -> None:
    assert rtsp_auth("") is None
    basic = rtsp_auth("basic:u:p:w")
    assert basic is not None and basic.check("DESCRIBE", "Basic dTpwOnc=", 0.0)  # u:p:w
    token = rtsp_auth("token:s3")
    assert token is not None and token.check("DESCRIBE", "Basic dG9rZW46czM=", 0.0)  # token:s3
    assert not token.check("DESCRIBE", "Basic dTpw", 0.0)
