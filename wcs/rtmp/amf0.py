"""AMF0 (Action Message Format 0) encoding and decoding.

Python values map as: float/int <-> number, bool <-> boolean, str <-> string (long string
above 65535 bytes), dict <-> object, None <-> null, :data:`UNDEFINED` <-> undefined,
:class:`EcmaArray` <-> ECMA array, list <-> strict array, :class:`Amf0Date` <-> date.
Numbers always decode as float (AMF0 has only doubles).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from .errors import RtmpError

NUMBER: Final = 0x00
BOOLEAN: Final = 0x01
STRING: Final = 0x02
OBJECT: Final = 0x03
NULL: Final = 0x05
UNDEFINED_MARKER: Final = 0x06
ECMA_ARRAY: Final = 0x08
OBJECT_END: Final = 0x09
STRICT_ARRAY: Final = 0x0A
DATE: Final = 0x0B
LONG_STRING: Final = 0x0C

_MAX_DEPTH = 32  # nesting guard: hostile input must not exhaust the stack


class _Undefined:
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()


class EcmaArray(dict[str, Any]):
    """An AMF0 ECMA array (an associative array; ``onMetaData`` uses it)."""


@dataclass(frozen=True, slots=True)
class Amf0Date:
    millis: float  # since the Unix epoch, UTC
    timezone: int = 0  # minutes; AMF0 says senders write 0 and readers ignore it


def encode(*values: Any) -> bytes:
    """Encode values one after another (a command is name, transaction id, args...)."""
    out = bytearray()
    for value in values:
        _encode(out, value, 0)
    return bytes(out)


def _encode_key(out: bytearray, key: str) -> None:
    raw = key.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise RtmpError("AMF0 object key longer than 65535 bytes")
    out += struct.pack(">H", len(raw)) + raw


def _encode_props(out: bytearray, props: dict[str, Any], depth: int) -> None:
    for key, item in props.items():
        if not isinstance(key, str):
            raise RtmpError(f"AMF0 object keys must be str, got {type(key).__name__}")
        _encode_key(out, key)
        _encode(out, item, depth + 1)
    out += b"\x00\x00" + bytes([OBJECT_END])


def _encode(out: bytearray, value: Any, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise RtmpError("AMF0 value nested too deeply")
    # bool before int: bool is a subclass of int.
    if isinstance(value, bool):
        out += bytes([BOOLEAN, 1 if value else 0])
    elif isinstance(value, int | float):
        out += bytes([NUMBER]) + struct.pack(">d", float(value))
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        if len(raw) <= 0xFFFF:
            out += bytes([STRING]) + struct.pack(">H", len(raw)) + raw
        else:
            out += bytes([LONG_STRING]) + struct.pack(">I", len(raw)) + raw
    elif value is None:
        out.append(NULL)
    elif value is UNDEFINED:
        out.append(UNDEFINED_MARKER)
    elif isinstance(value, EcmaArray):
        out += bytes([ECMA_ARRAY]) + struct.pack(">I", len(value))
        _encode_props(out, value, depth)
    elif isinstance(value, dict):
        out.append(OBJECT)
        _encode_props(out, value, depth)
    elif isinstance(value, list | tuple):
        out += bytes([STRICT_ARRAY]) + struct.pack(">I", len(value))
        for item in value:
            _encode(out, item, depth + 1)
    elif isinstance(value, Amf0Date):
        out += bytes([DATE]) + struct.pack(">dh", value.millis, value.timezone)
    else:
        raise RtmpError(f"cannot encode {type(value).__name__} as AMF0")


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise RtmpError(f"AMF0 truncated: need {n} bytes at offset {self.pos}")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def text(self, n: int) -> str:
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RtmpError(f"AMF0 string is not UTF-8 at offset {self.pos}") from exc


def decode(data: bytes) -> list[Any]:
    """Decode every value in ``data``; raises :class:`RtmpError` on malformed input."""
    return list(iter_decode(data))


def iter_decode(data: bytes) -> Iterator[Any]:
    reader = _Reader(bytes(data))
    while reader.pos < len(reader.data):
        yield _decode(reader, 0)


def _decode_props(reader: _Reader, target: dict[str, Any], depth: int) -> None:
    while True:
        key = reader.text(reader.u16())
        if key == "" and reader.pos < len(reader.data) and reader.data[reader.pos] == OBJECT_END:
            reader.pos += 1
            return
        target[key] = _decode(reader, depth + 1)


def _decode(reader: _Reader, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise RtmpError("AMF0 value nested too deeply")
    marker = reader.u8()
    if marker == NUMBER:
        return struct.unpack(">d", reader.take(8))[0]
    if marker == BOOLEAN:
        return reader.u8() != 0
    if marker == STRING:
        return reader.text(reader.u16())
    if marker == LONG_STRING:
        return reader.text(reader.u32())
    if marker == OBJECT:
        obj: dict[str, Any] = {}
        _decode_props(reader, obj, depth)
        return obj
    if marker == NULL:
        return None
    if marker == UNDEFINED_MARKER:
        return UNDEFINED
    if marker == ECMA_ARRAY:
        reader.u32()  # count is advisory; the object-end marker terminates the list
        arr = EcmaArray()
        _decode_props(reader, arr, depth)
        return arr
    if marker == STRICT_ARRAY:
        count = reader.u32()
        if count > len(reader.data) - reader.pos:  # each item is at least one byte
            raise RtmpError(f"AMF0 strict array count {count} exceeds the data")
        return [_decode(reader, depth + 1) for _ in range(count)]
    if marker == DATE:
        millis, tz = struct.unpack(">dh", reader.take(10))
        return Amf0Date(millis, tz)
    if marker == OBJECT_END:
        raise RtmpError(f"AMF0 object end marker outside an object at offset {reader.pos - 1}")
    raise RtmpError(f"unsupported AMF0 type marker 0x{marker:02x} at offset {reader.pos - 1}")
