"""RTSP building blocks: URLs, the Transport header, the request reader, framing."""

from __future__ import annotations

import pytest

from wcs.rtsp import RtspUrl, TrackTransport, interleaved_frame, parse_url
from wcs.rtsp.message import Interleaved, RequestReader, RtspParseError
from wcs.rtsp.transport import TransportError, parse_transport


@pytest.mark.parametrize(
    ("uri", "url"),
    [
        ("rtsp://h:554/cam", RtspUrl("cam", None, "")),
        ("rtsp://h/cam/", RtspUrl("cam", None, "")),
        ("rtsp://h/cam/trackID=1", RtspUrl("cam", 1, "")),
        ("rtsp://h/cam?token=abc", RtspUrl("cam", None, "token=abc")),
        ("rtsp://[::1]:8554/my%20stream/trackID=0", RtspUrl("my stream", 0, "")),
        ("/cam/trackID=2", RtspUrl("cam", 2, "")),
        ("rtsp://h/a/b", None),
        ("rtsp://h/cam/trackID=x", None),
        ("rtsp://h/cam/trackID=1234", None),
        ("rtsp://h/..", None),
        ("rtsp://h/%2E%2E", None),
        ("rtsp://h/a%5Cb", None),
        ("rtsp://h/a%00b", None),
        ("rtsp:///cam", None),
        ("file:///etc/passwd", None),
        ("*", None),
        ("rtsp://[bad/cam", None),
    ],
)
def test_parse_url(uri: str, url: RtspUrl | None) -> None:
    assert parse_url(uri) == url


def test_transport_parsing() -> None:
    specs = parse_transport(
        "RTP/AVP/TCP;unicast;interleaved=4-5, RTP/AVP;unicast;client_port=5000-5001;mode=play"
    )
    assert specs[0].tcp and specs[0].interleaved == (4, 5)
    assert specs[1].udp and specs[1].client_ports == (5000, 5001)
    assert parse_transport("RTP/AVP;unicast;client_port=6000")[0].client_ports == (6000, 6001)
    assert not parse_transport("RTP/AVP;multicast")[0].unicast
    for bad in ("", " , ", "RTP/AVP;client_port=a-b", "RTP/AVP/TCP;interleaved=300-301"):
        with pytest.raises(TransportError):
            parse_transport(bad)


def test_transport_answer_headers() -> None:
    assert TrackTransport(True, channels=(2, 3)).header(0xABC) == (
        "RTP/AVP/TCP;unicast;interleaved=2-3;ssrc=00000ABC"
    )
    udp = TrackTransport(False, client_ports=(5000, 5001), server_ports=(31000, 31001))
    assert udp.header() == "RTP/AVP;unicast;client_port=5000-5001;server_port=31000-31001"


def test_reader_handles_bodies_frames_and_stray_line_ends() -> None:
    reader = RequestReader()
    raw = (
        b"\r\n"
        + interleaved_frame(1, b"abc")
        + b"SET_PARAMETER rtsp://h/x RTSP/1.0\r\nCSeq: 3\r\nContent-Length: 4\r\n"
        + b"X-Folded: a\r\n b\r\nX-Twice: 1\r\nx-twice: 2\r\n\r\nbody"
    )
    items = []
    for i in range(len(raw)):
        items += reader.feed(raw[i : i + 1])
    assert items[0] == Interleaved(1, b"abc")
    req = items[1]
    assert not isinstance(req, Interleaved)
    assert req.method == "SET_PARAMETER" and req.body == b"body"
    assert req.header("x-folded") == "a b" and req.header("X-Twice") == "1, 2"


def test_reader_limits() -> None:
    with pytest.raises(RtspParseError) as exc:
        RequestReader(max_head=100).feed(b"OPTIONS * RTSP/1.0\r\n" + b"a" * 200)
    assert exc.value.status == 400
    with pytest.raises(RtspParseError) as exc:
        RequestReader(max_body=10).feed(b"X * RTSP/1.0\r\nContent-Length: 11\r\n\r\n")
    assert exc.value.status == 413


def test_interleaved_frame_limits() -> None:
    assert interleaved_frame(0, b"\x01") == b"$\x00\x00\x01\x01"
    with pytest.raises(ValueError):
        interleaved_frame(256, b"")
    with pytest.raises(ValueError):
        interleaved_frame(0, bytes(70000))
