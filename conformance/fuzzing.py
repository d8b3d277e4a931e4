"""Hypothesis strategies shared by the fuzz tests: real and torture messages, mutated."""

from __future__ import annotations

from hypothesis import strategies as st

from conformance.siptrace import sip_packets, trace_names
from conformance.torture import load_cases

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
