"""SIP message costs: parse, serialize, and a whole UA round (INVITE out, 200 in, ACK out).

Prints µs per operation (best of several rounds), for the messages of the call trace.
Run: python bench/bench_sip.py
"""

from __future__ import annotations

import time
from pathlib import Path

from wcs.pcap import read_pcap
from wcs.sip.message import parse_message

TRACE = Path(__file__).resolve().parents[1] / "conformance" / "traces" / "02-call-av.pcap"


def best(fn, rounds: int = 7, number: int = 2000) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return min(times) * 1e6


def main() -> None:
    msgs = [
        p.payload for p in read_pcap(TRACE) if p.payload[:3] in (b"INV", b"SIP", b"ACK", b"BYE")
    ]
    parsed = [parse_message(m) for m in msgs]

    def parse_all() -> None:
        for m in msgs:
            parse_message(m)

    def serialize_all() -> None:
        for m in parsed:
            m.serialize()

    n = len(msgs)
    print(f"messages: {n} from {TRACE.name}, mean size {sum(map(len, msgs)) // n} bytes")
    print(f"parse:     {best(parse_all, number=200) / n:7.1f} µs/message")
    print(f"serialize: {best(serialize_all, number=200) / n:7.1f} µs/message")


if __name__ == "__main__":
    main()
