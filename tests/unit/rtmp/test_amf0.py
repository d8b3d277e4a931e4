from __future__ import annotations

import contextlib
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wcs.rtmp import amf0
from wcs.rtmp.amf0 import UNDEFINED, Amf0Date, EcmaArray
from wcs.rtmp.errors import RtmpError


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        -1.5,
        1e300,
        True,
        False,
        "",
        "connect",
        "ünïcode ✓",
        None,
        UNDEFINED,
        {},
        {"app": "live", "n": 3.0, "nested": {"a": [1.0, "x", None]}},
        EcmaArray(width=352.0, height=288.0),
        [],
        [1.0, True, "s", None, UNDEFINED],
        Amf0Date(1700000000000.0, 0),
        "x" * 70000,
    ],
)
def test_round_trip(value: Any) -> None:
    (decoded,) = amf0.decode(amf0.encode(value))
    assert decoded == value
    assert type(decoded) is type(value)


def test_known_bytes_of_each_type() -> None:
    assert amf0.encode(1) == b"\x00" + struct.pack(">d", 1.0)
    assert amf0.encode(True) == b"\x01\x01"
    assert amf0.encode("ab") == b"\x02\x00\x02ab"
    assert amf0.encode(None) == b"\x05"
    assert amf0.encode(UNDEFINED) == b"\x06"
    assert amf0.encode({"a": None}) == b"\x03\x00\x01a\x05\x00\x00\x09"
    assert amf0.encode(EcmaArray(a=None)) == b"\x08\x00\x00\x00\x01\x00\x01a\x05\x00\x00\x09"
    assert amf0.encode([None]) == b"\x0a\x00\x00\x00\x01\x05"
    assert amf0.encode(Amf0Date(0.0)) == b"\x0b" + bytes(8) + b"\x00\x00"
    long = amf0.encode("y" * 65536)
    assert long[:5] == b"\x0c\x00\x01\x00\x00" and len(long) == 5 + 65536


def test_a_command_is_a_sequence_of_values() -> None:
    data = amf0.encode("connect", 1, {"app": "live"}, None)
    assert amf0.decode(data) == ["connect", 1.0, {"app": "live"}, None]


def test_ecma_array_count_is_advisory() -> None:
    # Some encoders write 0 as the count; the end marker is what ends the array.
    data = b"\x08\x00\x00\x00\x00\x00\x01k\x02\x00\x01v\x00\x00\x09"
    assert amf0.decode(data) == [{"k": "v"}]


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00\x00",  # truncated number
        b"\x02\x00\x05ab",  # truncated string
        b"\x03\x00\x01a\x05",  # object without end
        b"\x09",  # object end outside an object
        b"\x11",  # AMF3 switch: not supported
        b"\x0a\xff\xff\xff\xff",  # strict array longer than the data
        b"\x02\x00\x02\xff\xfe",  # not UTF-8
        b"\x0a\x00\x00\x00\x01" * 40 + b"\x05",  # nested too deeply
    ],
)
def test_decode_errors_raise_rtmp_error(data: bytes) -> None:
    with pytest.raises(RtmpError):
        amf0.decode(data)


def test_encode_rejects_unknown_types() -> None:
    with pytest.raises(RtmpError):
        amf0.encode(object())
    with pytest.raises(RtmpError):
        amf0.encode({1: "x"})


_scalars = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.text(max_size=50))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)


@given(_values)
def test_round_trip_property(value: Any) -> None:
    assert amf0.decode(amf0.encode(value)) == [value]


@given(st.binary(max_size=200))
def test_garbage_never_raises_anything_but_rtmp_error(data: bytes) -> None:
    with contextlib.suppress(RtmpError):
        amf0.decode(data)
