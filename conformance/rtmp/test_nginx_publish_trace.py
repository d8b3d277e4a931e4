"""Replay of nginx-publish.pcap: one real publish session of our client to nginx-rtmp 1.2.2
(made by ``python3 -m conformance.rtmp.make_trace``). Both directions are decoded with our
handshake/chunk/AMF0 code, and the server's bytes drive our sans-IO client again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wcs.pcap import read_pcap
from wcs.rtmp import amf0, flv
from wcs.rtmp import events as ev
from wcs.rtmp import messages as m
from wcs.rtmp.chunk import ChunkDecoder
from wcs.rtmp.connection import RtmpClientConnection
from wcs.rtmp.handshake import HANDSHAKE_SIZE
from wcs.rtmp.messages import RtmpMessage
from wcs.rtmp.url import parse_full_url

TRACE = Path(__file__).with_name("nginx-publish.pcap")


def streams() -> tuple[bytes, bytes, int]:
    """(client→server bytes, server→client bytes, server port). Loopback capture: the TCP
    segments are in order without loss, so concatenating payloads reassembles the streams."""
    packets = [p for p in read_pcap(TRACE) if p.proto == "tcp"]
    server_port = packets[0].dst[1]  # the first segment is the client's SYN
    up = b"".join(p.payload for p in packets if p.dst[1] == server_port)
    down = b"".join(p.payload for p in packets if p.src[1] == server_port)
    return up, down, server_port


def commands(msgs: list[RtmpMessage]) -> list[list[Any]]:
    return [amf0.decode(x.payload) for x in msgs if x.type_id == m.COMMAND_AMF0]


def test_trace_is_small() -> None:
    assert TRACE.stat().st_size < 300_000


def test_server_bytes_decode() -> None:
    _, down, _ = streams()
    assert down[0] == 3  # S0
    msgs = ChunkDecoder().feed(down[1 + 2 * HANDSHAKE_SIZE :])
    control = [(x.type_id, x.payload) for x in msgs if x.csid == 2]
    assert (m.WINDOW_ACK_SIZE, (5_000_000).to_bytes(4, "big")) in control
    assert (m.SET_PEER_BANDWIDTH, (5_000_000).to_bytes(4, "big") + b"\x02") in control
    assert (m.SET_CHUNK_SIZE, (4096).to_bytes(4, "big")) in control
    cmds = commands(msgs)
    connect_result = cmds[0]
    assert connect_result[:2] == ["_result", 1.0]
    assert connect_result[3]["code"] == "NetConnection.Connect.Success"
    assert cmds[1][:2] == ["_result", 4.0] and cmds[1][3] == 1.0  # createStream → stream 1
    statuses = [c[3]["code"] for c in cmds if c[0] == "onStatus"]
    assert statuses == ["NetStream.Publish.Start", "NetStream.Unpublish.Success"]


def test_client_bytes_decode() -> None:
    up, _, port = streams()
    assert up[0] == 3 and len(up) > 1 + 2 * HANDSHAKE_SIZE
    c1 = up[1 : 1 + HANDSHAKE_SIZE]
    assert c1[4:8] == bytes(4)  # plain handshake: zero version field
    dec = ChunkDecoder()
    msgs = dec.feed(up[1 + 2 * HANDSHAKE_SIZE :])
    assert dec.chunk_size == 4096  # our Set Chunk Size came first and was honoured
    assert (msgs[0].type_id, msgs[0].payload) == (m.SET_CHUNK_SIZE, b"\x00\x00\x10\x00")
    cmds = commands(msgs)
    assert [c[0] for c in cmds] == [
        "connect",
        "releaseStream",
        "FCPublish",
        "createStream",
        "publish",
        "FCUnpublish",
        "deleteStream",
    ]
    assert cmds[0][2] == {
        "app": "live",
        "type": "nonprivate",
        "flashVer": "FMLE/3.0 (compatible; wcs)",
        "tcUrl": f"rtmp://127.0.0.1:{port}/live",
    }
    assert cmds[4][2:] == [None, "trace", "live"]
    data = [amf0.decode(x.payload) for x in msgs if x.type_id == m.DATA_AMF0]
    assert data[0][:2] == ["@setDataFrame", "onMetaData"]
    assert (data[0][2]["width"], data[0][2]["height"]) == (352.0, 288.0)
    video = [x for x in msgs if x.type_id == m.VIDEO]
    audio = [x for x in msgs if x.type_id == m.AUDIO]
    assert video[0].payload[:2] == b"\x17\x00"  # AVC sequence header first
    assert video[1].payload[:2] == b"\x17\x01"  # then the IDR access unit
    assert all(v.payload[:2] == b"\x27\x01" for v in video[2:])
    assert audio[0].payload[:2] == b"\xaf\x00"
    assert flv.parse_audio_specific_config(audio[0].payload[2:]) == (2, 48000, 1)
    assert len(audio) > 20 and all(a.payload[:2] == b"\xaf\x01" for a in audio[1:])
    stamps = [x.timestamp for x in msgs if x.type_id in (m.VIDEO, m.AUDIO)]
    assert stamps == sorted(stamps)
    assert all(x.stream_id == 1 for x in video + audio)


def test_server_bytes_drive_our_client_to_publishing() -> None:
    up, down, port = streams()
    conn = RtmpClientConnection(parse_full_url(f"rtmp://127.0.0.1:{port}/live/trace"))
    conn.initiate()
    conn.data_to_send(0.0)
    # Feed the server's bytes up to (not including) the Unpublish status.
    cut = down.index(b"NetStream.Unpublish.Success")
    conn.receive_data(down[: cut - 40])
    events = []
    while (e := conn.next_event()) is not None:
        events.append(e)
    assert isinstance(events[0], ev.HandshakeCompleted)
    assert ev.StreamCreated(1) in events
    assert ev.PeerBandwidth(5_000_000, 2) in events
    assert conn.publishing and conn.peer_window == 5_000_000
    # The commands our client answers with are the ones it sent in the capture.
    replayed = ChunkDecoder().feed(conn.data_to_send(0.0)[HANDSHAKE_SIZE:])
    recorded = ChunkDecoder().feed(up[1 + 2 * HANDSHAKE_SIZE :])
    assert len(replayed) == 7  # chunk size, connect, window, release, FCPublish, create, publish
    assert [(x.type_id, x.payload) for x in replayed] == [
        (x.type_id, x.payload) for x in recorded[: len(replayed)]
    ]


@pytest.mark.parametrize("step", [1, 7, 1000])
def test_any_slicing_gives_the_same_messages(step: int) -> None:
    _, down, _ = streams()
    body = down[1 + 2 * HANDSHAKE_SIZE :]
    whole = ChunkDecoder().feed(body)
    dec = ChunkDecoder()
    sliced: list[RtmpMessage] = []
    for i in range(0, len(body), step):
        sliced += dec.feed(body[i : i + step])
    assert sliced == whole
