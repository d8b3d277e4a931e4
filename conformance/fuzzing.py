"""SIP mutators shared by the fuzz tests and the soak target (``bench.soak``): real and
torture messages, mutated. The same operations are driven either by hypothesis
(:func:`mutated`, a strategy) or by a seeded ``random.Random`` (:func:`mutate`, for 10^5
messages at wire speed)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol, TypeVar

from hypothesis import strategies as st

from conformance.siptrace import sip_packets, trace_names
from conformance.torture import load_cases

T = TypeVar("T")

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
OPS = ("flip", "insert", "delete", "dup", "truncate", "special")


class Draws(Protocol):
    """Where a mutation's choices come from."""

    def integer(self, lo: int, hi: int) -> int: ...
    def pick(self, items: Sequence[T]) -> T: ...
    def blob(self, lo: int, hi: int) -> bytes: ...


class _Hypothesis:
    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def pick(self, items: Sequence[T]) -> T:
        return self.draw(st.sampled_from(items))

    def blob(self, lo: int, hi: int) -> bytes:
        return self.draw(st.binary(min_size=lo, max_size=hi))


class _Random:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def pick(self, items: Sequence[T]) -> T:
        return self.rng.choice(items)

    def blob(self, lo: int, hi: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(lo, hi))


def _mutate(seed: bytes, d: Draws) -> bytes:
    data = bytearray(seed)
    for _ in range(d.integer(1, 6)):
        op = d.pick(OPS)
        at = d.integer(0, len(data))
        if op == "flip" and at < len(data):
            data[at] = d.integer(0, 255)
        elif op == "insert":
            data[at:at] = d.blob(1, 8)
        elif op == "delete":
            del data[at : at + d.integer(1, 40)]
        elif op == "dup":
            data[at:at] = data[at : at + d.integer(1, 60)]
        elif op == "truncate":
            del data[at:]
        else:  # "special" (and a flip past the end)
            data[at:at] = d.pick(SPECIAL)
    return bytes(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    d = _Hypothesis(draw)
    return _mutate(d.pick(SEEDS), d)


def mutate(rng: random.Random, seeds: Sequence[bytes] = SEEDS) -> bytes:
    """One mutated message drawn with ``rng`` (deterministic for a seeded ``rng``)."""
    d = _Random(rng)
    return _mutate(d.pick(seeds), d)
