"""The control and media framing between the main process and its media workers."""

from __future__ import annotations

import json
import struct

import pytest

from wcs.webrtc import fanout_wire as wire
from wcs.webrtc.answer import SourceTrack

TRACKS = [
    SourceTrack("video", "H264", 90000, {"packetization-mode": "1"}),
    SourceTrack("audio", "PCMU", 8000),
]

MESSAGES: list[wire.Message] = [
    wire.CreateViewer(7, 3, "v=0\r\n", wire.tracks_to_wire(TRACKS)),
    wire.CloseViewer(7),
    wire.StartLive(7),
    wire.ViewerAnswer(7, "v=0\r\nanswer", ["audio", "video"]),
    wire.ViewerRefused(7, "No common codecs", 400),
    wire.PeerState(7, "failed", "Failed by ICE timeout"),
    wire.KeyframeRequest(7),
    wire.WorkerStats({"7": {"state": "connected", "tracks": {}}}, 1, 2, 3),
]


def frame(type_byte: int, body: bytes) -> bytes:
    return struct.pack("!I", len(body) + 1) + bytes((type_byte,)) + body


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message: wire.Message) -> None:
    assert wire.FrameDecoder().feed(wire.encode(message)) == [message]


def test_byte_by_byte_and_several_per_read() -> None:
    data = b"".join(wire.encode(m) for m in MESSAGES)
    decoder = wire.FrameDecoder()
    got: list[wire.Message] = []
    for i in range(len(data)):
        got += decoder.feed(data[i : i + 1])
    assert got == MESSAGES and decoder.pending == 0
    assert wire.FrameDecoder().feed(data) == MESSAGES


def test_partial_frame_is_pending() -> None:
    data = wire.encode(wire.CloseViewer(1))
    decoder = wire.FrameDecoder()
    assert decoder.feed(data[:-1]) == []
    assert decoder.pending == len(data) - 1


def test_defaults_may_be_left_out() -> None:
    body = json.dumps({"viewer": 2, "state": "closed"}).encode()
    assert wire.FrameDecoder().feed(frame(wire.PeerState.TYPE, body)) == [
        wire.PeerState(2, "closed", "")
    ]


@pytest.mark.parametrize(
    "data, complaint",
    [
        (struct.pack("!I", 0), "bad frame length 0"),
        (struct.pack("!I", wire.MAX_FRAME + 1), "bad frame length"),
        (frame(99, b"{}"), "unknown message type 99"),
        (frame(wire.CloseViewer.TYPE, b"{not json"), "bad JSON"),
        (frame(wire.CloseViewer.TYPE, b"\xff\xfe"), "bad JSON"),
        (frame(wire.CloseViewer.TYPE, b"[1]"), "not an object"),
        (frame(wire.CloseViewer.TYPE, b"{}"), "missing field 'viewer'"),
        (frame(wire.CloseViewer.TYPE, b'{"viewer":"7"}'), "field 'viewer' is not int"),
        (frame(wire.CloseViewer.TYPE, b'{"viewer":true}'), "field 'viewer' is not int"),
        (frame(wire.CloseViewer.TYPE, b'{"viewer":1,"x":2}'), "unknown fields ['x']"),
        (frame(wire.ViewerAnswer.TYPE, b'{"viewer":1,"answer":"","kinds":"audio"}'), "kinds"),
    ],
)
def test_bad_control_frames(data: bytes, complaint: str) -> None:
    with pytest.raises(wire.WireError, match=None) as info:
        wire.FrameDecoder().feed(data)
    assert complaint in str(info.value)


def test_oversized_message_is_refused() -> None:
    with pytest.raises(wire.WireError, match="too large"):
        wire.encode(wire.CreateViewer(1, 1, "x" * wire.MAX_FRAME, []))


def test_tracks_round_trip_and_bad_tracks() -> None:
    assert wire.tracks_from_wire(wire.tracks_to_wire(TRACKS)) == TRACKS
    bad = [
        {"kind": "text", "codec": "x", "clock_rate": 1},
        {"kind": "audio", "codec": "PCMU"},
        {"kind": "audio", "codec": "PCMU", "clock_rate": "8000"},
        {"kind": "audio", "codec": "PCMU", "clock_rate": 8000, "fmtp": {"a": 1}},
        "audio",
    ]
    for item in bad:
        with pytest.raises(wire.WireError, match="bad source track"):
            wire.tracks_from_wire([item])  # type: ignore[list-item]


def test_media_datagrams() -> None:
    rtp = b"\x80\x60" + bytes(30)
    data = wire.media_header(5, 0, wire.KIND_VIDEO) + rtp
    assert len(data) == wire.MEDIA_HEADER.size + len(rtp)
    assert wire.parse_media(data) == (5, 0, wire.KIND_VIDEO, rtp)
    assert wire.parse_media(wire.media_header(5, 9, wire.KIND_START)) == (5, 9, 2, b"")
    with pytest.raises(wire.WireError, match="bytes"):
        wire.parse_media(b"\x00" * (wire.MEDIA_HEADER.size - 1))
    with pytest.raises(wire.WireError, match="bad media kind"):
        wire.parse_media(wire.media_header(5, 9, 3))
    with pytest.raises(wire.WireError, match="bad media kind"):  # START needs a viewer
        wire.parse_media(wire.media_header(5, 0, wire.KIND_START))
