"""The RTSP connection core: a whole playback over TCP and UDP, and every error answer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.hls.helpers import PPS, SPS
from wcs.media.h264 import parse_sprop_parameter_sets
from wcs.rtsp import (
    CloseConnection,
    InterleavedReceived,
    Paused,
    PlayStarted,
    RtspConnection,
    RtspSettings,
    SessionEnded,
    TrackSetup,
    TrackTransport,
    interleaved_frame,
)

from .helpers import URL, Reply, ask, drain, make, parse_replies, request


def setup_tcp(conn: RtspConnection, track: int = 0, session: str | None = None) -> Reply:
    extra = [f"Session: {session}"] if session else []
    channels = f"{2 * track}-{2 * track + 1}"
    return ask(
        conn,
        request(
            "SETUP",
            f"{URL}/trackID={track}",
            3 + track,
            f"Transport: RTP/AVP/TCP;unicast;interleaved={channels}",
            *extra,
        ),
    )


def test_options_lists_the_methods_and_echoes_cseq() -> None:
    r = ask(make(), request("OPTIONS", URL, 17))
    assert r.status == 200 and r.headers["cseq"] == "17"
    assert "DESCRIBE" in r.headers["public"] and "GET_PARAMETER" in r.headers["public"]


def test_describe_builds_sdp_from_the_tracks() -> None:
    r = ask(make(), request("DESCRIBE", URL, 2, "Accept: application/sdp"))
    assert r.status == 200
    assert r.headers["content-type"] == "application/sdp"
    assert r.headers["content-base"] == URL + "/"
    sdp = r.body.decode()
    assert sdp.startswith("v=0\r\n") and "a=control:*" in sdp
    assert "m=video 0 RTP/AVP 102" in sdp and "a=rtpmap:102 H264/90000" in sdp
    fmtp = next(x for x in sdp.split("\r\n") if x.startswith("a=fmtp:102 "))
    params = dict(p.split("=", 1) for p in fmtp.split(" ", 1)[1].split(";"))
    assert params["packetization-mode"] == "1"
    assert params["profile-level-id"] == SPS[1:4].hex()
    assert parse_sprop_parameter_sets(params["sprop-parameter-sets"]) == [SPS, PPS]
    assert "m=audio 0 RTP/AVP 0" in sdp and "a=rtpmap:0 PCMU/8000" in sdp
    assert sdp.index("a=control:trackID=0") < sdp.index("m=audio")
    assert "a=control:trackID=1" in sdp


def test_opus_is_described_as_two_channels() -> None:
    from wcs.rtsp import RtspTrack, StreamDescription, build_sdp

    opus = RtspTrack("audio", "opus", 48000, 111, 2, fmtp="minptime=10;useinbandfec=1")
    sdp = build_sdp(StreamDescription("x", (opus,)), "::1", 1)
    assert "a=rtpmap:111 opus/48000/2" in sdp and "a=fmtp:111 minptime=10;useinbandfec=1" in sdp
    assert "IN IP6 ::1" in sdp


def test_tcp_playback_from_setup_to_teardown() -> None:
    conn = make()
    r = setup_tcp(conn, 0)
    assert r.status == 200
    assert r.headers["transport"] == "RTP/AVP/TCP;unicast;interleaved=0-1"
    assert r.headers["session"] == "sess0;timeout=60"
    r = setup_tcp(conn, 1, "sess0")
    assert r.status == 200 and r.headers["transport"].endswith("interleaved=2-3")
    events = drain(conn)
    assert [type(e) for e in events] == [TrackSetup, TrackSetup]
    assert conn.send_interleaved("sess0", 0, b"rtp") is False  # not playing yet
    r = ask(conn, request("PLAY", URL + "/", 5, "Session: sess0", "Range: npt=0.000-"))
    assert r.status == 200
    assert r.headers["rtp-info"] == (
        f"url={URL}/trackID=0;seq=1000;rtptime=50000,url={URL}/trackID=1;seq=1001;rtptime=50001"
    )
    (play,) = drain(conn)
    assert isinstance(play, PlayStarted)
    assert play.tracks[0] == TrackTransport(True, channels=(0, 1))
    assert conn.send_interleaved("sess0", 1, b"audio-rtp")
    assert conn.send_interleaved("sess0", 0, b"rtcp", rtcp=True)
    assert conn.data_to_send(0) == interleaved_frame(2, b"audio-rtp") + interleaved_frame(
        1, b"rtcp"
    )
    assert ask(conn, request("PAUSE", URL, 6, "Session: sess0")).status == 200
    assert [type(e) for e in drain(conn)] == [Paused]
    assert conn.send_interleaved("sess0", 0, b"rtp") is False
    assert ask(conn, request("PLAY", URL, 7, "Session: sess0")).status == 200
    assert [type(e) for e in drain(conn)] == [PlayStarted]
    assert ask(conn, request("TEARDOWN", URL, 8, "Session: sess0")).status == 200
    (ended,) = drain(conn)
    assert isinstance(ended, SessionEnded) and ended.reason == "teardown"
    assert set(ended.tracks) == {0, 1}
    assert ask(conn, request("PLAY", URL, 9, "Session: sess0")).status == 454


def test_udp_setup_uses_the_port_hook_and_the_clients_own_address() -> None:
    ports = iter([(31000, 31001), (31002, 31003)])
    conn = make(udp_ports=lambda: next(ports))
    transport = "Transport: RTP/AVP;unicast;client_port=5000-5001;destination=6.6.6.6"
    r = ask(conn, request("SETUP", f"{URL}/trackID=0", 1, transport))
    assert r.status == 200
    assert r.headers["transport"] == (
        "RTP/AVP;unicast;client_port=5000-5001;server_port=31000-31001"
    )
    ask(conn, request("PLAY", URL, 2, "Session: sess0"))
    play = next(e for e in drain(conn) if isinstance(e, PlayStarted))
    assert play.client_host == "10.0.0.9"  # never the destination= parameter
    assert play.tracks[0].client_ports == (5000, 5001)
    assert conn.send_interleaved("sess0", 0, b"x") is False  # UDP: the edge sends


def test_first_acceptable_transport_alternative_wins() -> None:
    conn = make()  # no UDP hook: only interleaved is possible
    value = "Transport: RTP/AVP;unicast;client_port=5000-5001,RTP/AVP/TCP;unicast"
    r = ask(conn, request("SETUP", f"{URL}/trackID=1", 1, value))
    assert r.status == 200 and r.headers["transport"].startswith(
        "RTP/AVP/TCP;unicast;interleaved=0-1"
    )


def test_single_track_stream_accepts_setup_on_the_stream_url() -> None:
    conn = make()
    r = ask(conn, request("SETUP", "rtsp://h/voice", 1, "Transport: RTP/AVP/TCP;interleaved=0-1"))
    assert r.status == 200


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (request("OPTIONS", URL, None), 400),
        (b"OPTIONS " + URL.encode() + b" RTSP/1.0\r\nCSeq: abc\r\n\r\n", 400),
        (b"OPTIONS " + URL.encode() + b" RTSP/2.0\r\nCSeq: 1\r\n\r\n", 505),
        (request("OPTIONS", URL, 1, "Require: play.basic"), 551),
        (request("DESCRIBE", "rtsp://h/nope", 1), 404),
        (request("DESCRIBE", "rtsp://h/../../etc/passwd", 1), 400),
        (request("DESCRIBE", "rtsp://h/cam/trackID=7", 1), 404),
        (request("DESCRIBE", "http://h/cam", 1), 400),
        (request("DESCRIBE", "rtsp://h/%2e%2e", 1), 400),
        (request("DESCRIBE", "rtsp://h/a%2Fb", 1), 400),
        (request("DESCRIBE", "rtsp://h/", 1), 400),
        (request("SETUP", URL, 1, "Transport: RTP/AVP/TCP"), 459),
        (request("SETUP", URL + "/trackID=0", 1), 461),
        (request("SETUP", URL + "/trackID=0", 1, "Transport: RTP/AVP;multicast"), 461),
        (request("SETUP", URL + "/trackID=0", 1, "Transport: RTP/AVP;client_port=5000-5001"), 461),
        (request("SETUP", URL + "/trackID=0", 1, "Transport: RTP/AVP;client_port=x-1"), 400),
        (request("SETUP", URL + "/trackID=0", 1, "Transport: RTP/AVP;client_port=70000"), 400),
        (request("SETUP", URL + "/trackID=0", 1, "Transport: RTP/AVP/TCP", "Session: zz"), 454),
        (request("PLAY", URL, 1), 454),
        (request("PLAY", URL, 1, "Session: nope"), 454),
        (request("TEARDOWN", URL, 1), 454),
        (request("ANNOUNCE", URL, 1), 405),
        (request("BREW", URL, 1), 501),
        (request("SET_PARAMETER", URL, 1, body=b"volume: 3\r\n"), 451),
    ],
)
def test_error_answers(raw: bytes, status: int) -> None:
    conn = make()
    r = ask(conn, raw)
    assert r.status == status
    if b"CSeq: 1\r\n" in raw:
        assert r.headers["cseq"] == "1"
    assert conn.sessions == {} and not conn.closed
    if status == 405:
        assert "DESCRIBE" in r.headers["allow"]


def test_wrong_state_and_wrong_stream() -> None:
    conn = make()
    setup_tcp(conn, 0)
    ask(conn, request("PLAY", URL, 4, "Session: sess0"))
    assert setup_tcp(conn, 1, "sess0").status == 455  # no SETUP while playing
    r = ask(conn, request("PLAY", "rtsp://h/voice", 5, "Session: sess0"))
    assert r.status == 404
    r = ask(
        conn,
        request("SETUP", "rtsp://h/voice", 6, "Transport: RTP/AVP/TCP", "Session: sess0"),
    )
    assert r.status == 459


def test_session_limit_per_connection() -> None:
    conn = make(settings=RtspSettings(max_sessions=2))
    assert setup_tcp(conn).status == 200
    assert setup_tcp(conn).status == 200
    assert setup_tcp(conn).status == 453


def test_udp_ports_exhausted_is_453() -> None:
    conn = make(udp_ports=lambda: None)
    value = "Transport: RTP/AVP;unicast;client_port=5000-5001"
    assert ask(conn, request("SETUP", f"{URL}/trackID=0", 1, value)).status == 453


def test_session_times_out_unless_kept_alive() -> None:
    conn = make(settings=RtspSettings(session_timeout=30))
    setup_tcp(conn)
    drain(conn)
    assert conn.get_timer() == 30.0
    ask(conn, request("GET_PARAMETER", URL, 9, "Session: sess0"), now=20.0)
    assert conn.get_timer() == 50.0
    conn.receive_data(interleaved_frame(1, b"rtcp-rr"), 40.0)  # RTCP over TCP counts too
    assert conn.get_timer() == 70.0
    assert drain(conn) == [InterleavedReceived(1, b"rtcp-rr")]
    conn.keepalive("sess0", 60.0)  # RTCP over UDP, reported by the edge
    conn.handle_timer(89.0)
    assert conn.sessions
    conn.handle_timer(90.0)
    (ended,) = drain(conn)
    assert isinstance(ended, SessionEnded) and ended.reason == "timeout"
    assert conn.get_timer() is None


def test_connection_loss_and_edge_end_release_sessions() -> None:
    conn = make()
    setup_tcp(conn)
    setup_tcp(conn)
    drain(conn)
    conn.end_session("sess1")
    assert [e.reason for e in drain(conn) if isinstance(e, SessionEnded)] == ["stream"]
    conn.connection_lost(1.0)
    assert [e.reason for e in drain(conn) if isinstance(e, SessionEnded)] == ["closed"]
    assert conn.sessions == {}


def test_a_client_that_never_reads_is_bounded() -> None:
    conn = make(settings=RtspSettings(max_output=10_000))
    setup_tcp(conn)
    ask(conn, request("PLAY", URL, 4, "Session: sess0"))
    sent = sum(conn.send_interleaved("sess0", 0, bytes(1000)) for _ in range(50))
    assert sent < 10 and conn.dropped_packets == 50 - sent
    assert len(conn.data_to_send(0)) <= 10_000 + 4 * sent
    assert conn.send_interleaved("sess0", 0, bytes(1000))  # drained: flowing again


def test_requests_split_anywhere_and_pipelined() -> None:
    conn = make()
    raw = request("OPTIONS", URL, 1) + request("DESCRIBE", URL, 2) + interleaved_frame(9, b"x")
    for i in range(len(raw)):
        conn.receive_data(raw[i : i + 1], 0.0)
    replies = parse_replies(conn.data_to_send(0.0))
    assert [(r.status, r.headers["cseq"]) for r in replies] == [(200, "1"), (200, "2")]
    assert drain(conn) == [InterleavedReceived(9, b"x")]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"OPTIONS  RTSP/1.0\r\nCSeq: 1\r\n\r\n", 400),
        (b"OPTIONS * HTTP/1.1\r\nCSeq: 1\r\n\r\n", 400),
        (b"OPTIONS * RTSP/1.0\r\nbad header\r\n\r\n", 400),
        (b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: -5\r\n\r\n", 400),
        (b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 99999\r\n\r\n", 413),
        (b"OPTIONS * RTSP/1.0\r\n" + b"X: " + b"a" * 9000, 400),
        (b"OPTIONS * RTSP/1.0\r\n" + b"X: 1\r\n" * 100 + b"\r\n", 400),
        (b"OPTIONS \xff RTSP/1.0\r\nCSeq: 1\r\n\r\n", 400),
    ],
)
def test_unparseable_requests_get_an_answer_and_close(raw: bytes, status: int) -> None:
    conn = make()
    setup_tcp(conn)
    drain(conn)
    conn.receive_data(raw, 0.0)
    (reply,) = parse_replies(conn.data_to_send(0.0))
    assert reply.status == status and "cseq" not in reply.headers
    events = drain(conn)
    assert isinstance(events[-1], CloseConnection)
    assert [e.reason for e in events if isinstance(e, SessionEnded)] == ["closed"]
    conn.receive_data(request("OPTIONS", URL, 2), 0.0)  # nothing more is read
    assert conn.data_to_send(0.0) == b""


@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    conn = make()
    conn.receive_data(data, 0.0)
    out = conn.data_to_send(0.0)
    if out:
        parse_replies(out)
