"""Micro-benchmark of the RTP hot path: header read, in-place rewrite, demux, receive stats.

Prints nanoseconds per operation (best of 5 runs). Run: python3 bench/bench_rtp.py
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from wcs.rtp.packet import RtpPacket, header, is_rtcp, rewrite
from wcs.rtp.stats import SourceStats

PACKET = RtpPacket(96, 1234, 90000, 0x11223344, b"\x7c\x85" + b"\x00" * 1000, True).serialize()


def _bench(name: str, stmt: str, env: dict[str, object], number: int = 200_000) -> None:
    best = min(timeit.repeat(stmt, globals=env, number=number, repeat=5))
    print(f"{name:<44} {best / number * 1e9:8.1f} ns")


def main() -> None:
    buf = bytearray(PACKET)
    stats = SourceStats(0x11223344, 90000, probation=0)
    counter = iter(range(10**9))
    env: dict[str, object] = {
        "PACKET": PACKET,
        "buf": buf,
        "header": header,
        "rewrite": rewrite,
        "is_rtcp": is_rtcp,
        "RtpPacket": RtpPacket,
        "stats": stats,
        "counter": counter,
        "bytearray": bytearray,
    }
    print(f"packet size {len(PACKET)} bytes")
    _bench("header(data) -> (pt, seq, ts, ssrc)", "header(PACKET)", env)
    _bench("is_rtcp(data) (RFC 5761 demux)", "is_rtcp(PACKET)", env)
    _bench("rewrite(bytearray, pt, seq, ts, ssrc)", "rewrite(buf, 102, 7, 123456, 0x55667788)", env)
    _bench(
        "copy + header + rewrite (one viewer)",
        "b = bytearray(PACKET); pt, s, t, x = header(b); rewrite(b, 102, s + 3, t + 9, 0x55)",
        env,
    )
    _bench(
        "SourceStats.update (in order)",
        "n = next(counter); stats.update(n & 0xFFFF, n * 3000, n / 30, 1012)",
        env,
    )
    _bench("RtpPacket.parse (slow path)", "RtpPacket.parse(PACKET)", env, number=50_000)
    parsed: dict[str, object] = {"p": RtpPacket.parse(PACKET)}
    _bench("RtpPacket.serialize (slow path)", "p.serialize()", parsed, number=50_000)


if __name__ == "__main__":
    main()
