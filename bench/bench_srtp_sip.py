"""Per-packet CPU that SDES-SRTP adds to a SIP call's media edge (wcs.app.media.secure):
unprotect of what the peer sends and protect of what we send, per suite, for 20 ms PCMA
(172-byte RTP) and 1200-byte video packets, next to the plain pass-through.

Prints µs per packet (best of 50 rounds of 2000). Run: PYTHONPATH=. python bench/bench_srtp_sip.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from wcs.app.media.sdes import SrtpKeys
from wcs.app.media.secure import MediaProtection
from wcs.rtp.packet import RtpPacket
from wcs.rtp.srtp import SrtpContext
from wcs.sdp.sdes import SUITES, new_key

N = 2000
ROUNDS = 50  # best of many short rounds: the shared machine has quiet moments


def packets(size: int) -> list[bytes]:
    return [
        RtpPacket(
            payload_type=96,
            sequence=i & 0xFFFF,
            timestamp=i * 160,
            ssrc=7,
            payload=bytes(size - 12),
        ).serialize()
        for i in range(N)
    ]


def best(make: Callable[[], Callable[[bytes], object]], items: list[bytes]) -> float:
    """µs per item, best of ROUNDS; ``make`` gives a fresh function per round (a replayed
    packet would fail authentication and measure the failure path instead)."""
    times = []
    for _ in range(ROUNDS):
        fn = make()
        t0 = time.perf_counter()
        for p in items:
            fn(p)
        times.append(time.perf_counter() - t0)
    return min(times) / len(items) * 1e6


def protection(suite: str, tx: bytes, rx: bytes) -> MediaProtection:
    prot = MediaProtection("bench")
    prot.install({"audio": SrtpKeys(suite, tx, rx)})
    return prot


def plain_fn() -> Callable[[bytes], object]:
    return partial(MediaProtection("bench").unprotect, "audio", rtcp=False)


def fresh(suite: str, tx: bytes, rx: bytes, inbound: bool) -> Callable[[bytes], object]:
    prot = protection(suite, tx, rx)
    return partial(prot.unprotect if inbound else prot.protect, "audio", rtcp=False)


def main() -> None:
    for size in (172, 1200):
        plain = packets(size)
        base = best(plain_fn, plain)
        print(f"{size:5d} B  plain pass-through            {base:5.2f} µs")
        for suite in SUITES:
            ours, theirs = new_key(suite), new_key(suite)
            peer = SrtpContext(suite, theirs.key, ours.key)
            wire = [bytes(peer.protect(p)) for p in plain]

            rx = best(partial(fresh, suite, ours.key, theirs.key, inbound=True), wire)
            tx = best(partial(fresh, suite, ours.key, theirs.key, inbound=False), plain)
            assert protection(suite, ours.key, theirs.key).unprotect("audio", wire[0], False)
            print(f"{size:5d} B  {suite:26s} unprotect {rx:5.2f} µs  protect {tx:5.2f} µs")


if __name__ == "__main__":
    main()
