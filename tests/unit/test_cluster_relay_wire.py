"""The relay datagram: round trip, authentication, coalesced keyframe requests, tracks."""

from __future__ import annotations

from wcs.app.stream import TrackInfo
from wcs.cluster.relay_wire import (
    END,
    KEYFRAME,
    TAG_LEN,
    VIDEO,
    KeyframeGate,
    RelayCodec,
    peek,
    rtp_timestamp,
    tracks_from_json,
    tracks_to_json,
)

RTP = bytes([0x80, 96, 0, 1]) + (1234).to_bytes(4, "big") + b"\x00\x00\x00\x01" + b"payload"


def test_round_trip_with_tag() -> None:
    codec = RelayCodec(b"12345678", b"k" * 32)
    data = codec.seal(VIDEO, RTP)
    assert len(data) == 10 + len(RTP) + TAG_LEN
    assert peek(data) == (VIDEO, b"12345678")
    assert codec.open(data) == (VIDEO, RTP)
    assert rtp_timestamp(RTP) == 1234


def test_forged_or_altered_datagrams_are_dropped() -> None:
    codec = RelayCodec(b"12345678", b"k" * 32)
    data = bytearray(codec.seal(VIDEO, RTP))
    data[15] ^= 1
    assert codec.open(bytes(data)) is None
    other_key = RelayCodec(b"12345678", b"x" * 32).seal(VIDEO, RTP)
    assert codec.open(other_key) is None
    other_relay = RelayCodec(b"87654321", b"k" * 32).seal(VIDEO, RTP)
    assert codec.open(other_relay) is None
    assert codec.open(b"\x80" + bytes(40)) is None
    assert peek(b"short") is None


def test_trusted_network_has_no_tag() -> None:
    codec = RelayCodec(b"12345678", None)
    assert codec.open(codec.seal(END, b"bye")) == (END, b"bye")
    assert codec.open(codec.seal(KEYFRAME, b"")) == (KEYFRAME, b"")


def test_keyframe_requests_coalesce() -> None:
    gate = KeyframeGate(0.5)
    assert [gate.allow(t) for t in (0.0, 0.1, 0.2, 0.49, 0.5, 0.6)] == [
        True, False, False, False, True, False,
    ]  # fmt: skip
    assert (gate.passed, gate.swallowed) == (2, 4)


def test_tracks_round_trip() -> None:
    tracks = {
        "video": TrackInfo("video", "H264", 90000, payload_type=96, sps=b"\x67\x42", pps=b"\x68"),
        "audio": TrackInfo("audio", "PCMU", 8000),
    }
    assert tracks_from_json(tracks_to_json(tracks)) == tracks
