"""The RTMP chunk stream: splitting messages into chunks and reassembling them (spec 5.3).

Both sides are plain classes without I/O. The encoder picks the most compact header type
(fmt 0-3) per chunk stream; the decoder accepts every header type, the 1/2/3-byte chunk
stream id forms, extended timestamps (also repeated on fmt 3 continuation chunks) and a
chunk size changed between messages.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import RtmpError
from .messages import MAX_CHUNK_SIZE, SET_CHUNK_SIZE, RtmpMessage, parse_chunk_size

DEFAULT_CHUNK_SIZE = 128
EXTENDED = 0xFFFFFF
_MASK32 = 0xFFFFFFFF
_HEADER_LEN = (11, 7, 3, 0)  # message header length by fmt


def basic_header(fmt: int, csid: int) -> bytes:
    if 2 <= csid <= 63:
        return bytes([(fmt << 6) | csid])
    if 64 <= csid <= 319:
        return bytes([fmt << 6, csid - 64])
    if 320 <= csid <= 65599:
        rest = csid - 64
        return bytes([(fmt << 6) | 1, rest & 0xFF, rest >> 8])
    raise RtmpError(f"chunk stream id {csid} out of range 2..65599")


def checked_chunk_size(size: int) -> int:
    """A Set Chunk Size value (either direction); RtmpError outside 1..MAX_CHUNK_SIZE."""
    if not 1 <= size <= MAX_CHUNK_SIZE:
        raise RtmpError(f"chunk size {size} out of range")
    return size


@dataclass(slots=True)
class _SendState:
    stream_id: int
    type_id: int
    length: int
    timestamp: int
    field: int  # the timestamp field last written (absolute after fmt 0, else a delta)
    has_delta: bool  # a delta is in effect, so fmt 3 may start a new message


class ChunkEncoder:
    """Turns messages into chunk bytes. Call :meth:`set_chunk_size` right after sending a
    Set Chunk Size message: later messages are cut with the new size."""

    def __init__(self) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self._state: dict[int, _SendState] = {}

    def set_chunk_size(self, size: int) -> None:
        self.chunk_size = checked_chunk_size(size)

    def encode(self, msg: RtmpMessage) -> bytes:
        csid = msg.csid
        ts = msg.timestamp & _MASK32
        length = len(msg.payload)
        if length > 0xFFFFFF:
            raise RtmpError(f"message of {length} bytes is too long for RTMP")
        prev = self._state.get(csid)
        if prev is None or prev.stream_id != msg.stream_id or ts < prev.timestamp:
            fmt, field = 0, ts
        else:
            field = ts - prev.timestamp
            if prev.type_id != msg.type_id or prev.length != length:
                fmt = 1
            elif prev.has_delta and field == prev.field:
                fmt = 3
            else:
                fmt = 2
        extended = field >= EXTENDED
        wire_field = EXTENDED if extended else field
        out = bytearray(basic_header(fmt, csid))
        if fmt == 0:
            out += wire_field.to_bytes(3, "big") + length.to_bytes(3, "big")
            out.append(msg.type_id)
            out += struct.pack("<I", msg.stream_id)  # the only little-endian field
        elif fmt == 1:
            out += wire_field.to_bytes(3, "big") + length.to_bytes(3, "big")
            out.append(msg.type_id)
        elif fmt == 2:
            out += wire_field.to_bytes(3, "big")
        ext = struct.pack(">I", field) if extended else b""
        out += ext
        self._state[csid] = _SendState(msg.stream_id, msg.type_id, length, ts, field, fmt != 0)
        payload = msg.payload
        size = self.chunk_size
        out += payload[:size]
        if length > size:
            cont = basic_header(3, csid) + ext  # extended timestamp repeats on continuations
            for pos in range(size, length, size):
                out += cont
                out += payload[pos : pos + size]
        return bytes(out)


@dataclass(slots=True)
class _RecvState:
    timestamp: int = 0
    field: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    has_header: bool = False
    partial: bytearray | None = None


class ChunkDecoder:
    """Reassembles messages from chunk bytes fed in any slicing."""

    def __init__(self, max_message: int = 0xFFFFFF, max_chunk_streams: int = 64) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.max_message = max_message
        # A peer could open thousands of chunk streams, each holding a partial message.
        self.max_chunk_streams = max_chunk_streams
        self._buf = bytearray()
        self._state: dict[int, _RecvState] = {}

    def set_chunk_size(self, size: int) -> None:
        self.chunk_size = checked_chunk_size(size)

    def abort(self, csid: int) -> None:
        """Abort Message (type 2): drop the partly received message on ``csid``."""
        state = self._state.get(csid)
        if state is not None:
            state.partial = None

    def feed(self, data: bytes) -> list[RtmpMessage]:
        """Add bytes; return the messages completed by them.

        A Set Chunk Size message from the peer applies to the chunks after it, so the
        decoder applies it itself, before parsing on.
        """
        self._buf += data
        out: list[RtmpMessage] = []
        while True:
            msg = self._next()
            if msg is None:
                return out
            out.append(msg)

    def _next(self) -> RtmpMessage | None:
        while True:
            done, msg = self._parse_chunk()
            if not done:
                return None
            if msg is not None:
                if msg.type_id == SET_CHUNK_SIZE and msg.stream_id == 0:
                    self.chunk_size = parse_chunk_size(msg.payload)
                return msg

    def _parse_chunk(self) -> tuple[bool, RtmpMessage | None]:
        """Parse one chunk if complete. (False, None): need more bytes."""
        buf = self._buf
        n = len(buf)
        if n < 1:
            return False, None
        fmt = buf[0] >> 6
        low = buf[0] & 0x3F
        if low == 0:
            if n < 2:
                return False, None
            csid, pos = buf[1] + 64, 2
        elif low == 1:
            if n < 3:
                return False, None
            csid, pos = buf[1] + (buf[2] << 8) + 64, 3
        else:
            csid, pos = low, 1
        state = self._state.get(csid)
        if fmt != 0 and (state is None or not state.has_header):
            raise RtmpError(f"chunk fmt {fmt} on chunk stream {csid} without a previous header")
        hlen = _HEADER_LEN[fmt]
        if n < pos + hlen:
            return False, None
        if state is None:
            if len(self._state) >= self.max_chunk_streams:
                raise RtmpError(f"more than {self.max_chunk_streams} chunk streams in use")
            state = _RecvState()
        continuing = state.partial is not None
        if fmt == 0 and continuing:
            # A new full header in the middle of a message: the peer abandoned it.
            continuing = False
        field = state.field
        length, type_id, stream_id = state.length, state.type_id, state.stream_id
        extended = state.extended
        if fmt <= 2:
            field = int.from_bytes(buf[pos : pos + 3], "big")
            if fmt <= 1:
                length = int.from_bytes(buf[pos + 3 : pos + 6], "big")
                type_id = buf[pos + 6]
            if fmt == 0:
                stream_id = struct.unpack("<I", buf[pos + 7 : pos + 11])[0]
            pos += hlen
            extended = field == EXTENDED
            if extended:
                if n < pos + 4:
                    return False, None
                field = struct.unpack(">I", buf[pos : pos + 4])[0]
                pos += 4
        elif extended:
            if n < pos + 4:
                return False, None
            repeated = struct.unpack(">I", buf[pos : pos + 4])[0]
            if not continuing:
                field = repeated
                pos += 4
            elif repeated == field:
                # Tolerance: some peers omit the repeated field on continuations; consume
                # it only when it is there (same rule as ffmpeg and librtmp).
                pos += 4
        if fmt != 3 and continuing:
            continuing = False  # fmt 1/2 start a new message; the old one is abandoned
        if length > self.max_message:
            raise RtmpError(f"message length {length} exceeds the limit {self.max_message}")
        have = len(state.partial) if continuing and state.partial is not None else 0
        take = min(self.chunk_size, length - have)
        if n < pos + take:
            return False, None
        # The chunk is complete: commit the header state.
        if not continuing:
            state.timestamp = field if fmt == 0 else (state.timestamp + field) & _MASK32
            state.partial = bytearray()
        state.field = field
        state.length, state.type_id, state.stream_id = length, type_id, stream_id
        state.extended = extended
        state.has_header = True
        self._state[csid] = state
        partial = state.partial
        assert partial is not None
        partial += buf[pos : pos + take]
        del buf[: pos + take]
        if len(partial) < length:
            return True, None
        state.partial = None
        return True, RtmpMessage(type_id, stream_id, state.timestamp, bytes(partial), csid)
