"""The sans-IO client against a scripted server built from our own chunk/AMF0 code."""

from __future__ import annotations

from typing import Any

from wcs.rtmp import amf0
from wcs.rtmp import events as ev
from wcs.rtmp import messages as m
from wcs.rtmp.chunk import ChunkDecoder, ChunkEncoder
from wcs.rtmp.connection import ConnState, RtmpClientConnection
from wcs.rtmp.handshake import HANDSHAKE_SIZE
from wcs.rtmp.messages import RtmpMessage
from wcs.rtmp.url import parse_full_url


class FakeServer:
    def __init__(self) -> None:
        self.enc = ChunkEncoder()
        self.dec = ChunkDecoder()
        self.got: list[RtmpMessage] = []
        self.handshake_seen = 0

    def handshake(self) -> bytes:
        return b"\x03" + bytes(HANDSHAKE_SIZE) + bytes(HANDSHAKE_SIZE)

    def take(self, data: bytes) -> list[RtmpMessage]:
        skip = min(len(data), 2 * HANDSHAKE_SIZE + 1 - self.handshake_seen)
        self.handshake_seen += skip
        msgs = self.dec.feed(data[skip:])
        self.got += msgs
        return msgs

    def command(self, name: str, tx: float, *args: Any, stream_id: int = 0) -> bytes:
        body = amf0.encode(name, tx, *args)
        return self.enc.encode(RtmpMessage(m.COMMAND_AMF0, stream_id, 0, body, 3))

    def send(self, msg: RtmpMessage) -> bytes:
        return self.enc.encode(msg)


def commands(msgs: list[RtmpMessage]) -> list[list[Any]]:
    return [amf0.decode(x.payload) for x in msgs if x.type_id == m.COMMAND_AMF0]


def drain(conn: RtmpClientConnection) -> list[ev.Event]:
    out = []
    while (e := conn.next_event()) is not None:
        out.append(e)
    return out


def start(flash: str = "FMLE/3.0 (compatible; test)") -> tuple[RtmpClientConnection, FakeServer]:
    conn = RtmpClientConnection(parse_full_url("rtmp://example.org/live/cam1"), flash)
    server = FakeServer()
    conn.initiate()
    server.take(conn.data_to_send(0.0))
    conn.receive_data(server.handshake())
    return conn, server


def to_publishing() -> tuple[RtmpClientConnection, FakeServer]:
    conn, server = start()
    server.take(conn.data_to_send(0.0))
    conn.receive_data(
        server.command(
            "_result", 1, {"fmsVer": "FMS/3,0,1,123"}, {"code": "NetConnection.Connect.Success"}
        )
    )
    server.take(conn.data_to_send(0.0))
    conn.receive_data(server.command("_result", 4, None, 1))
    server.take(conn.data_to_send(0.0))
    conn.receive_data(
        server.command(
            "onStatus",
            0,
            None,
            {"level": "status", "code": "NetStream.Publish.Start", "description": "go"},
            stream_id=1,
        )
    )
    return conn, server


def test_connect_sequence_and_command_fields() -> None:
    conn, server = start()
    msgs = server.take(conn.data_to_send(0.0))
    assert drain(conn)[0] == ev.HandshakeCompleted(3, False)
    assert msgs[0].type_id == m.SET_CHUNK_SIZE and msgs[0].payload == b"\x00\x00\x10\x00"
    name, tx, obj = commands(msgs)[0]
    assert (name, tx) == ("connect", 1.0)
    assert obj == {
        "app": "live",
        "type": "nonprivate",
        "flashVer": "FMLE/3.0 (compatible; test)",
        "tcUrl": "rtmp://example.org:1935/live",
    }
    assert conn.state is ConnState.CONNECTING


def test_publish_flow_to_publishing_then_media_and_close() -> None:
    conn, server = to_publishing()
    events = drain(conn)
    assert isinstance(events[1], ev.Connected)
    assert events[1].properties["fmsVer"] == "FMS/3,0,1,123"
    assert ev.StreamCreated(1) in events
    assert events[-1] == ev.PublishStarted("NetStream.Publish.Start", "go")
    assert conn.publishing and conn.stream_id == 1
    names = [c[0] for c in commands(server.got)]
    assert names == ["connect", "releaseStream", "FCPublish", "createStream", "publish"]
    publish = commands(server.got)[-1]
    assert publish[2:] == [None, "cam1", "live"]
    assert server.got[-1].stream_id == 1

    conn.send_metadata({"width": 352.0})
    conn.send_video(0, b"\x17\x00\x00\x00\x00cfg")
    conn.send_audio(0, b"\xaf\x00\x11\x90")
    conn.send_video(66, b"\x27\x01\x00\x00\x00nal")
    msgs = server.take(conn.data_to_send(0.0))
    assert [(x.type_id, x.stream_id, x.timestamp) for x in msgs] == [
        (m.DATA_AMF0, 1, 0),
        (m.VIDEO, 1, 0),
        (m.AUDIO, 1, 0),
        (m.VIDEO, 1, 66),
    ]
    assert amf0.decode(msgs[0].payload) == ["@setDataFrame", "onMetaData", {"width": 352.0}]

    conn.close()
    msgs = server.take(conn.data_to_send(0.0))
    assert [c[0] for c in commands(msgs)] == ["FCUnpublish", "deleteStream"]
    assert commands(msgs)[1][3] == 1.0
    assert drain(conn) == [ev.Closed()]
    conn.connection_lost()
    assert drain(conn) == []  # closing after close() is no failure


def test_connect_error_carries_server_reason() -> None:
    conn, server = start()
    conn.receive_data(
        server.command(
            "_error",
            1,
            None,
            {
                "level": "error",
                "code": "NetConnection.Connect.Rejected",
                "description": "no such app",
            },
        )
    )
    failed = [e for e in drain(conn) if isinstance(e, ev.Failed)]
    assert failed == [ev.Failed("connect", "NetConnection.Connect.Rejected", "no such app")]
    assert conn.state is ConnState.FAILED


def test_bad_name_on_publish() -> None:
    conn, server = start()
    conn.receive_data(server.command("_result", 1, None, None))
    conn.receive_data(server.command("_result", 4, None, 1))
    conn.receive_data(
        server.command(
            "onStatus",
            0,
            None,
            {
                "level": "error",
                "code": "NetStream.Publish.BadName",
                "description": "Already publishing",
            },
        )
    )
    assert conn.failure == ev.Failed("publish", "NetStream.Publish.BadName", "Already publishing")


def test_server_closing_mid_publish_is_a_failure() -> None:
    conn, _ = to_publishing()
    drain(conn)
    conn.connection_lost()
    assert conn.failure is not None and conn.failure.stage == "publishing"


def test_ping_window_ack_and_peer_bandwidth() -> None:
    conn, server = to_publishing()
    server.take(conn.data_to_send(0.0))
    drain(conn)
    conn.receive_data(server.send(m.user_control(m.UC_PING_REQUEST, 123456)))
    conn.receive_data(server.send(m.window_ack_size(1000)))
    conn.receive_data(
        server.send(RtmpMessage(m.SET_PEER_BANDWIDTH, 0, 0, b"\x00\x00\x13\x88\x02", 2))
    )
    msgs = server.take(conn.data_to_send(0.0))
    assert (m.USER_CONTROL, b"\x00\x07" + (123456).to_bytes(4, "big")) in [
        (x.type_id, x.payload) for x in msgs
    ]
    assert (m.WINDOW_ACK_SIZE, (5000).to_bytes(4, "big")) in [(x.type_id, x.payload) for x in msgs]
    assert ev.PingReceived(123456) in drain(conn)
    # Cross the 1000-byte window: exactly one acknowledgement with the byte count.
    before = conn.bytes_received
    conn.receive_data(server.command("onStatus", 0, None, {"code": "x" * 1100}))
    acks = [x for x in server.take(conn.data_to_send(0.0)) if x.type_id == m.ACKNOWLEDGEMENT]
    assert len(acks) == 1
    assert int.from_bytes(acks[0].payload, "big") == conn.bytes_received > before + 1000


def test_garbage_from_server_fails_cleanly() -> None:
    conn, server = start()
    conn.receive_data(b"\x43\x00\x00\x00")  # fmt 1 on a chunk stream with no header yet
    assert conn.failure is not None and conn.failure.stage == "protocol"
    conn.receive_data(server.command("_result", 1, None, None))  # ignored once failed
    assert conn.state is ConnState.FAILED


def test_media_before_publishing_is_refused() -> None:
    conn, _ = start()
    try:
        conn.send_video(0, b"x")
    except Exception as exc:
        assert "cannot send media" in str(exc)
    else:
        raise AssertionError("send_video before publishing must raise")
