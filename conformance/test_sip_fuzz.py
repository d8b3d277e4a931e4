"""Fuzzing the SIP parser: whatever arrives, parse_message (and the accessors used on its
result) raise SipParseError or nothing; what parses also survives a round trip."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.compare import assert_round_trip, touch_everything
from conformance.siptrace import sip_packets, trace_names
from conformance.torture import load_cases
from wcs.sip.message import SipParseError, parse_message

# Seeds: every valid torture message plus every real message of the traces.
SEEDS: list[bytes] = [c.data for c in load_cases() if c.valid] + [
    p.payload for name in trace_names() for p in sip_packets(name)
]

# Bytes that matter to the grammar, so mutations hit the interesting paths often.
SPECIAL = [
    b"\r\n", b"\n", b"\r", b" ", b"\t", b":", b";", b",", b"=", b'"', b"\\", b"<", b">",
    b"@", b"[", b"]", b"%", b"\x00", b"\xff", b"\xc3", b"\r\n ", b"\r\n\r\n", b"SIP/2.0",
    b"Content-Length: ", b"l:", b"-1", b"99999999999999999999", b"z9hG4bK", b"sip:",
]  # fmt: skip

# No deadline: timing must not decide a test on a shared machine.
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        assert str(exc)
    else:
        with contextlib.suppress(SipParseError):
            touch_everything(msg)
        assert_round_trip(msg)
    with contextlib.suppress(SipParseError):
        parse_message(data, stream=True)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup", "truncate", "special"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif op == "dup":
            data[at:at] = data[at : at + draw(st.integers(1, 60))]
        elif op == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(st.sampled_from(SPECIAL))
    return bytes(data)


_LINE = st.lists(
    st.sampled_from([*SPECIAL, b"Via", b"From", b"To", b"CSeq", b"Call-ID", b"INVITE", b"x"]),
    max_size=12,
).map(b"".join)


@given(st.binary(max_size=3000))
@FUZZ
def test_random_bytes(data: bytes) -> None:
    _check(data)


@given(mutated())
@FUZZ
def test_mutated_valid_messages(data: bytes) -> None:
    _check(data)


@given(
    st.sampled_from([b"INVITE sip:a@b SIP/2.0", b"SIP/2.0 200 OK"]), st.lists(_LINE, max_size=20)
)
@FUZZ
def test_grammar_soup(start: bytes, lines: list[bytes]) -> None:
    _check(start + b"\r\n" + b"\r\n".join(lines) + b"\r\n\r\n")


def test_seeds_are_many() -> None:
    # 21 valid torture messages + 36 messages from the three traces.
    assert len(SEEDS) == 21 + 8 + 16 + 12
