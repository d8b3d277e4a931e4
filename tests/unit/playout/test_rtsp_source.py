"""The hub as RTSP sees it: stable track ids (video 0, audio 1), a late audio track, and
RTP-Info naming the first packet each new player gets."""

from __future__ import annotations

import struct

from tests.unit.hls.helpers import PPS, SPS
from tests.unit.playout.helpers import Source
from tests.unit.rtsp.helpers import ask, drain, request
from wcs.app.rtsp_source import HubRtspSource
from wcs.app.stream import TrackInfo
from wcs.app.streams import StreamHub
from wcs.media.h264.nal import AccessUnit
from wcs.rtsp import PlayStarted, RtspConnection, TrackSetup

IDR = b"\x65\x88\x84\x00\x33"
URL = "rtsp://127.0.0.1:8554/s"


def rtp(pt: int, seq: int, ts: int, payload: bytes, marker: bool = True) -> bytes:
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq, ts, 0x1234) + payload


def connection(hub: StreamHub) -> RtspConnection:
    return RtspConnection(HubRtspSource(hub), "127.0.0.1", "127.0.0.1", session_ids=lambda: "S1")


def controls(conn: RtspConnection) -> list[str]:
    body = ask(conn, request("DESCRIBE", URL, 1)).body.decode()
    return [line for line in body.split("\r\n") if line.startswith(("m=", "a=control:track"))]


def feed_keyframe(source: Source, seq: int, ts: int) -> None:
    # The IDR arrives alone; the cache puts a STAP-A of SPS+PPS (seq - 1) in front of it.
    source.pub.feed_rtp("video", rtp(97, seq, ts, IDR), ts)
    source.pub.feed_video(AccessUnit(ts, [SPS, PPS, IDR], keyframe=True), 0.0)
    source.pub.feed_rtp("video", rtp(97, seq + 1, ts + 3000, IDR[:1] + b"\x01"), ts + 3000)


def test_late_audio_keeps_the_video_track_id() -> None:
    hub = StreamHub()
    source = Source(hub, audio=None)
    conn = connection(hub)
    assert controls(conn) == ["m=video 0 RTP/AVP 97", "a=control:trackID=0"]
    source.pub.update_track(TrackInfo("audio", "PCMU", 8000))
    assert controls(conn) == [
        "m=video 0 RTP/AVP 97", "a=control:trackID=0",
        "m=audio 0 RTP/AVP 0", "a=control:trackID=1",
    ]  # fmt: skip


def test_audio_only_stream_is_track_1_and_the_aggregate_url_sets_it_up() -> None:
    hub = StreamHub()
    Source(hub, video=False)
    conn = connection(hub)
    assert controls(conn) == ["m=audio 0 RTP/AVP 0", "a=control:trackID=1"]
    transport = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1"
    assert ask(conn, request("SETUP", f"{URL}/trackID=0", 2, transport)).status == 404
    assert ask(conn, request("SETUP", URL, 3, transport)).status == 200
    assert [e.track for e in drain(conn) if isinstance(e, TrackSetup)] == [1]


def test_rtp_info_names_the_first_packet_each_track_gets() -> None:
    hub = StreamHub()
    source = Source(hub)
    feed_keyframe(source, seq=500, ts=90000)
    source.pub.feed_rtp("audio", rtp(0, 70, 1600, b"\xff" * 160), 1600)
    source.pub.feed_rtp("audio", rtp(0, 71, 1760, b"\xff" * 160), 1760)
    conn = connection(hub)
    for track in (0, 1):
        reply = ask(
            conn,
            request(
                "SETUP", f"{URL}/trackID={track}", 2 + track,
                f"Transport: RTP/AVP/TCP;unicast;interleaved={2 * track}-{2 * track + 1}",
                *(["Session: S1"] if track else []),
            ),
        )  # fmt: skip
        assert reply.status == 200
    play = ask(conn, request("PLAY", URL, 5, "Session: S1"))
    assert play.headers["rtp-info"] == (
        f"url={URL}/trackID=0;seq=499;rtptime=90000,url={URL}/trackID=1;seq=71;rtptime=1760"
    )
    assert any(isinstance(e, PlayStarted) for e in drain(conn))
    got: list[tuple[int, int, int]] = []
    HubRtspSource(hub).subscribe(
        "s", lambda t, p: got.append((t, *struct.unpack_from("!HI", p, 2))), lambda: None
    )
    first = {t: (seq, ts) for t, seq, ts in reversed(got)}
    assert first == {0: (499, 90000), 1: (71, 1760)}


def test_rtp_info_leaves_out_a_track_without_packets() -> None:
    hub = StreamHub()
    Source(hub)  # no keyframe cached, no audio received
    conn = connection(hub)
    ask(conn, request("SETUP", f"{URL}/trackID=0", 2,
                      "Transport: RTP/AVP/TCP;unicast;interleaved=0-1"))  # fmt: skip
    play = ask(conn, request("PLAY", URL, 3, "Session: S1"))
    assert play.status == 200 and "rtp-info" not in play.headers
