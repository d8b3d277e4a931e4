from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wcs.rtmp import messages as m
from wcs.rtmp.chunk import ChunkDecoder, ChunkEncoder, basic_header
from wcs.rtmp.errors import RtmpError
from wcs.rtmp.messages import RtmpMessage


def roundtrip(msgs: list[RtmpMessage], chunk_size: int = 128, step: int = 0) -> list[RtmpMessage]:
    enc = ChunkEncoder()
    enc.set_chunk_size(chunk_size)
    dec = ChunkDecoder()
    dec.set_chunk_size(chunk_size)
    data = b"".join(enc.encode(msg) for msg in msgs)
    if not step:
        return dec.feed(data)
    out: list[RtmpMessage] = []
    for i in range(0, len(data), step):
        out += dec.feed(data[i : i + step])
    return out


def test_basic_header_forms() -> None:
    assert basic_header(0, 3) == b"\x03"
    assert basic_header(1, 63) == b"\x7f"
    assert basic_header(2, 64) == b"\x80\x00"
    assert basic_header(3, 319) == b"\xc0\xff"
    assert basic_header(0, 320) == b"\x01\x00\x01"
    assert basic_header(0, 65599) == b"\x01\xff\xff"
    with pytest.raises(RtmpError):
        basic_header(0, 1)


def test_header_types_chosen_by_what_changed() -> None:
    enc = ChunkEncoder()
    a = enc.encode(RtmpMessage(9, 1, 1000, b"x" * 10, 6))
    b = enc.encode(RtmpMessage(9, 1, 1033, b"y" * 12, 6))  # length changed: fmt 1
    c = enc.encode(RtmpMessage(9, 1, 1070, b"z" * 12, 6))  # only the delta: fmt 2
    d = enc.encode(RtmpMessage(9, 1, 1107, b"w" * 12, 6))  # same delta: fmt 3
    e = enc.encode(RtmpMessage(9, 2, 1100, b"v" * 12, 6))  # other stream: fmt 0
    f = enc.encode(RtmpMessage(9, 2, 50, b"v" * 12, 6))  # backwards: fmt 0
    assert [x[0] >> 6 for x in (a, b, c, d, e, f)] == [0, 1, 2, 3, 0, 0]
    assert len(a) == 1 + 11 + 10 and len(b) == 1 + 7 + 12
    assert len(c) == 1 + 3 + 12 and len(d) == 1 + 12
    assert a[1:4] == (1000).to_bytes(3, "big") and b[1:4] == (33).to_bytes(3, "big")
    assert a[8:12] == struct.pack("<I", 1)  # message stream id is little-endian
    dec = ChunkDecoder()
    got = dec.feed(a + b + c + d + e + f)
    assert [(x.timestamp, x.stream_id, x.payload[:1]) for x in got] == [
        (1000, 1, b"x"),
        (1033, 1, b"y"),
        (1070, 1, b"z"),
        (1107, 1, b"w"),
        (1100, 2, b"v"),
        (50, 2, b"v"),
    ]


def test_long_message_split_in_type_3_continuations() -> None:
    payload = bytes(range(256)) * 2
    data = ChunkEncoder().encode(RtmpMessage(8, 1, 5, payload, 4))
    # 512 bytes at 128 per chunk: one 12-byte header + three 1-byte fmt 3 headers.
    assert len(data) == 12 + 512 + 3
    assert data[12 + 128] == 0xC4
    (msg,) = ChunkDecoder().feed(data)
    assert msg.payload == payload and msg.timestamp == 5


def test_extended_timestamp_also_on_continuations() -> None:
    ts = 0x01234567
    payload = b"a" * 300
    data = ChunkEncoder().encode(RtmpMessage(9, 1, ts, payload, 6))
    assert data[1:4] == b"\xff\xff\xff"
    assert data[12:16] == struct.pack(">I", ts)
    cont = 16 + 128
    assert data[cont] == 0xC6 and data[cont + 1 : cont + 5] == struct.pack(">I", ts)
    (msg,) = ChunkDecoder().feed(data)
    assert msg.timestamp == ts and msg.payload == payload


def test_extended_delta_and_fmt3_new_message() -> None:
    msgs = [
        RtmpMessage(9, 1, 0, b"a", 6),
        RtmpMessage(9, 1, 0x1000000, b"b", 6),  # delta >= 0xFFFFFF: extended in fmt 2
        RtmpMessage(9, 1, 0x2000000, b"c", 6),  # same delta: fmt 3 with the extended field
    ]
    got = roundtrip(msgs)
    assert [x.timestamp for x in got] == [0, 0x1000000, 0x2000000]


def test_decoder_tolerates_continuations_without_the_repeated_extended_field() -> None:
    ts = 0x01000000
    payload = b"q" * 200
    header = bytes([0x06]) + b"\xff\xff\xff" + (200).to_bytes(3, "big") + b"\x09"
    header += struct.pack("<I", 1) + struct.pack(">I", ts)
    data = header + payload[:128] + b"\xc6" + payload[128:]
    (msg,) = ChunkDecoder().feed(data)
    assert msg.payload == payload and msg.timestamp == ts


def test_interleaved_chunk_streams() -> None:
    enc = ChunkEncoder()
    video = enc.encode(RtmpMessage(9, 1, 10, b"V" * 300, 6))
    audio = enc.encode(RtmpMessage(8, 1, 11, b"A" * 200, 4))
    # Interleave chunk by chunk as a real sender may: V1 A1 V2 A2 V3.
    v = [video[:140], video[140:269], video[269:]]
    a = [audio[:140], audio[140:]]
    assert v[1][0] == 0xC6 and a[1][0] == 0xC4
    got = ChunkDecoder().feed(v[0] + a[0] + v[1] + a[1] + v[2])
    assert [(x.type_id, x.payload) for x in got] == [(8, b"A" * 200), (9, b"V" * 300)]


def test_chunk_size_change_mid_stream() -> None:
    enc = ChunkEncoder()
    first = enc.encode(RtmpMessage(20, 0, 0, b"1" * 300, 3))
    change = enc.encode(m.set_chunk_size(4096))
    enc.set_chunk_size(4096)
    second = enc.encode(RtmpMessage(20, 0, 0, b"2" * 3000, 3))
    assert len(second) == 8 + 3000  # a single chunk now (fmt 1 header)
    dec = ChunkDecoder()
    got = []
    data = first + change + second
    for i in range(0, len(data), 7):  # sliced awkwardly
        got += dec.feed(data[i : i + 7])
    assert [len(x.payload) for x in got] == [300, 4, 3000]
    assert dec.chunk_size == 4096


def test_three_byte_csid_round_trip() -> None:
    got = roundtrip([RtmpMessage(9, 1, 1, b"z" * 400, 40000), RtmpMessage(9, 1, 2, b"y", 70)])
    assert [(x.csid, len(x.payload)) for x in got] == [(40000, 400), (70, 1)]


def test_abort_drops_partial_message() -> None:
    data = ChunkEncoder().encode(RtmpMessage(9, 1, 1, b"p" * 300, 6))
    dec = ChunkDecoder()
    assert dec.feed(data[:140]) == []
    dec.abort(6)
    fresh = ChunkEncoder().encode(RtmpMessage(9, 1, 2, b"n" * 5, 6))
    (msg,) = dec.feed(fresh)
    assert msg.payload == b"n" * 5


def test_fmt_without_previous_header_is_an_error() -> None:
    with pytest.raises(RtmpError):
        ChunkDecoder().feed(b"\x46\x00\x00\x01\x00\x00\x01\x09x")


def test_oversized_message_is_refused() -> None:
    dec = ChunkDecoder(max_message=1000)
    header = b"\x06\x00\x00\x00" + (5000).to_bytes(3, "big") + b"\x09" + bytes(4)
    with pytest.raises(RtmpError):
        dec.feed(header)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([3, 4, 6, 64, 400]),
            st.integers(0, 0x1FFFFFF),
            st.binary(max_size=600),
            st.sampled_from([8, 9, 20]),
        ),
        max_size=12,
    ),
    st.sampled_from([1, 128, 4096]),
    st.integers(1, 50),
)
def test_round_trip_property(
    spec: list[tuple[int, int, bytes, int]], chunk_size: int, step: int
) -> None:
    # Timestamps per chunk stream are made non-decreasing (a real sender's order).
    last: dict[int, int] = {}
    msgs = []
    for csid, ts, payload, type_id in spec:
        ts = max(ts, last.get(csid, 0))
        last[csid] = ts
        msgs.append(RtmpMessage(type_id, 1, ts, payload, csid))
    got = roundtrip(msgs, chunk_size, step)
    assert [(x.csid, x.timestamp, x.payload, x.type_id) for x in got] == [
        (x.csid, x.timestamp, x.payload, x.type_id) for x in msgs
    ]


def test_too_many_chunk_streams_is_refused() -> None:
    enc = ChunkEncoder()
    data = b"".join(enc.encode(RtmpMessage(9, 1, 0, b"x" * 200, 10 + i)) for i in range(5))
    dec = ChunkDecoder(max_chunk_streams=4)
    with pytest.raises(RtmpError, match="chunk streams"):
        dec.feed(data)
