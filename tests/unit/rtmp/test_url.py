from __future__ import annotations

import pytest

from wcs.rtmp.errors import RtmpError
from wcs.rtmp.url import parse_full_url, push_target


def test_full_url_with_instance_and_query() -> None:
    t = parse_full_url("rtmp://cdn.example.com/app/inst/stream1?token=abc")
    assert (t.host, t.port, t.app, t.stream) == (
        "cdn.example.com",
        1935,
        "app/inst",
        "stream1?token=abc",
    )
    assert t.tc_url == "rtmp://cdn.example.com:1935/app/inst"
    assert not t.tls


def test_rtmps_default_port_and_ipv6() -> None:
    t = parse_full_url("rtmps://[::1]/live2/key")
    assert (t.port, t.tls, t.tc_url) == (443, True, "rtmps://[::1]:443/live2")


def test_push_default_prefixes_the_name() -> None:
    t = push_target("rtmp://127.0.0.1:1935/live", "call1")
    assert (t.app, t.stream) == ("live", "rtmp_call1")
    t = push_target("rtmp://h:19350/live/", "call1", prefix="")
    assert (t.port, t.app, t.stream) == (19350, "live", "call1")


def test_push_full_url_uses_the_url_as_is() -> None:
    t = push_target("rtmp://a.rtmp.youtube.com/live2/abcd-efgh", "ignored", full_url=True)
    assert (t.app, t.stream) == ("live2", "abcd-efgh")
    assert "abcd" not in repr(t)  # stream keys stay out of logs


@pytest.mark.parametrize(
    "url", ["http://h/live/x", "rtmp:///live/x", "rtmp://h/", "rtmp://h:x/a", "rtmp://h/onlyapp"]
)
def test_bad_full_urls(url: str) -> None:
    with pytest.raises(RtmpError):
        parse_full_url(url)


def test_push_needs_an_app_and_a_name() -> None:
    with pytest.raises(RtmpError):
        push_target("rtmp://h", "x")
    with pytest.raises(RtmpError):
        push_target("rtmp://h/live", "")
