"""RTMP message types, the protocol control messages and their (de)serialization."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from .errors import RtmpError

# Message type ids (RTMP spec 5.4, 7.1).
SET_CHUNK_SIZE: Final = 1
ABORT: Final = 2
ACKNOWLEDGEMENT: Final = 3
USER_CONTROL: Final = 4
WINDOW_ACK_SIZE: Final = 5
SET_PEER_BANDWIDTH: Final = 6
AUDIO: Final = 8
VIDEO: Final = 9
DATA_AMF3: Final = 15
COMMAND_AMF3: Final = 17
DATA_AMF0: Final = 18
COMMAND_AMF0: Final = 20
AGGREGATE: Final = 22

# User control event types (RTMP spec 7.1.7).
UC_STREAM_BEGIN: Final = 0
UC_STREAM_EOF: Final = 1
UC_STREAM_DRY: Final = 2
UC_SET_BUFFER_LENGTH: Final = 3
UC_STREAM_IS_RECORDED: Final = 4
UC_PING_REQUEST: Final = 6
UC_PING_RESPONSE: Final = 7

# Chunk stream ids we use when sending. 2 is reserved for protocol control by the spec;
# the others follow common practice (FMLE, ffmpeg), any value >= 3 would do.
CSID_CONTROL: Final = 2
CSID_COMMAND: Final = 3
CSID_AUDIO: Final = 4
CSID_DATA: Final = 5
CSID_VIDEO: Final = 6

MAX_CHUNK_SIZE: Final = 0xFFFFFF  # a message cannot be longer, so bigger chunks are pointless


@dataclass(slots=True)
class RtmpMessage:
    """One complete RTMP message (after chunk reassembly, or before chunking)."""

    type_id: int
    stream_id: int
    timestamp: int  # ms, 32-bit
    payload: bytes
    csid: int = CSID_COMMAND  # chunk stream it came on / goes on


def _u32(payload: bytes, what: str) -> int:
    if len(payload) < 4:
        raise RtmpError(f"{what} message too short ({len(payload)} bytes)")
    return int(struct.unpack(">I", payload[:4])[0])


def set_chunk_size(size: int) -> RtmpMessage:
    return RtmpMessage(SET_CHUNK_SIZE, 0, 0, struct.pack(">I", size), CSID_CONTROL)


def parse_chunk_size(payload: bytes) -> int:
    size = _u32(payload, "Set Chunk Size") & 0x7FFFFFFF  # the top bit must be 0: ignore it
    if size < 1:
        raise RtmpError("Set Chunk Size of 0")
    return min(size, MAX_CHUNK_SIZE)


def acknowledgement(sequence: int) -> RtmpMessage:
    return RtmpMessage(
        ACKNOWLEDGEMENT, 0, 0, struct.pack(">I", sequence & 0xFFFFFFFF), CSID_CONTROL
    )


def window_ack_size(size: int) -> RtmpMessage:
    return RtmpMessage(WINDOW_ACK_SIZE, 0, 0, struct.pack(">I", size), CSID_CONTROL)


def parse_u32(payload: bytes, what: str) -> int:
    return _u32(payload, what)


def parse_peer_bandwidth(payload: bytes) -> tuple[int, int]:
    """(window size, limit type 0 hard / 1 soft / 2 dynamic)."""
    if len(payload) < 5:
        raise RtmpError(f"Set Peer Bandwidth message too short ({len(payload)} bytes)")
    return _u32(payload, "Set Peer Bandwidth"), payload[4]


def user_control(event: int, *values: int) -> RtmpMessage:
    body = struct.pack(">H", event) + b"".join(struct.pack(">I", v & 0xFFFFFFFF) for v in values)
    return RtmpMessage(USER_CONTROL, 0, 0, body, CSID_CONTROL)


def parse_user_control(payload: bytes) -> tuple[int, bytes]:
    """(event type, event data)."""
    if len(payload) < 2:
        raise RtmpError("User Control message too short")
    return int(struct.unpack(">H", payload[:2])[0]), payload[2:]
