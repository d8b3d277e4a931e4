"""Fuzzing the SIP parser: whatever arrives, parse_message (and the accessors used on its
result) raise SipParseError or nothing; what parses also survives a round trip."""

from __future__ import annotations

import contextlib
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.compare import assert_round_trip, touch_everything
from conformance.fuzzing import SEEDS, SPECIAL, mutate, mutated
from wcs.sip.message import SipParseError, parse_message

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


def test_seeded_mutations_are_reproducible_and_parse_safely() -> None:
    """The soak target's driver: the same seed gives the same messages, and each of them
    is handled like any other input (parse error or round trip)."""
    first = [mutate(random.Random(7)) for _ in range(3)]
    rng_a, rng_b = random.Random(18), random.Random(18)
    a = [mutate(rng_a) for _ in range(300)]
    assert a == [mutate(rng_b) for _ in range(300)]
    assert first[0] == first[1] == first[2]
    assert len(set(a)) > 250  # varied, and nearly never a seed left as it was
    assert sum(m in SEEDS for m in a) < 15
    for data in a:
        _check(data)
