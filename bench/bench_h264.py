"""µs per packet for H.264 depacketizing (and friends) on the 02-call-av trace.

Run from the repository root: ``python3 bench/bench_h264.py``. Prints figures only.
"""

from __future__ import annotations

import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wcs.media.audio import ulaw_decode, ulaw_encode
from wcs.media.h264 import AccessUnit, H264Depacketizer, H264Packetizer
from wcs.pcap import read_pcap
from wcs.rtp.jitter import JitterBuffer

TRACE = Path(__file__).resolve().parent.parent / "conformance" / "traces" / "02-call-av.pcap"
Packet = tuple[bytes, int, int, bool]


def video_packets() -> list[Packet]:
    """Callee → caller video RTP (PT 96) of the trace, as (payload, seq, ts, marker)."""
    flows: dict[tuple[int, int], list[Packet]] = {}
    for p in read_pcap(TRACE):
        b = p.payload
        if p.proto == "udp" and len(b) > 12 and b[0] >> 6 == 2 and b[1] & 0x7F == 96:
            seq, ts = struct.unpack("!HI", b[2:8])
            cc = b[0] & 0x0F
            flows.setdefault((p.src[1], p.dst[1]), []).append(
                (b[12 + 4 * cc :], seq, ts, bool(b[1] & 0x80))
            )
    return min(flows.values(), key=len)  # the callee's stream is the shorter one


def depacketize(packets: list[Packet]) -> list[AccessUnit]:
    d = H264Depacketizer()
    aus: list[AccessUnit] = []
    for p in packets:
        aus += d.push(*p)
    return aus + d.flush()


def repacketize(aus: list[AccessUnit], mtu: int) -> list[Packet]:
    pack = H264Packetizer(mtu=mtu)
    out: list[Packet] = []
    for au in aus:
        payloads = pack.packetize(au.nals)
        for i, pl in enumerate(payloads):
            out.append((pl, len(out) & 0xFFFF, au.timestamp, i == len(payloads) - 1))
    return out


def best_us(fn: Callable[[], object], units: int, rounds: int = 30) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best / units * 1e6


def report(label: str, us: float, unit: str = "packet") -> None:
    print(f"{label:<48} {us:7.2f} µs/{unit}")


def main() -> None:
    packets = video_packets()
    aus = depacketize(packets)
    print(f"trace: {len(packets)} video packets, {len(aus)} access units")
    report("depacketize mode 0 (as captured)", best_us(lambda: depacketize(packets), len(packets)))
    for mtu in (1200, 300):
        fu = repacketize(aus, mtu)
        report(
            f"depacketize mode 1, mtu {mtu} ({len(fu)} packets)",
            best_us(lambda fu=fu: depacketize(fu), len(fu)),
        )  # type: ignore[misc]
        report(
            f"packetize mode 1, mtu {mtu}", best_us(lambda mtu=mtu: repacketize(aus, mtu), len(fu))
        )  # type: ignore[misc]

    def jitter() -> None:
        jb: JitterBuffer[Packet] = JitterBuffer(latency=0.05)
        for i, p in enumerate(packets):
            jb.push(p[1], p[2], i * 0.001, p)
            jb.pop_ready(i * 0.001)

    report("jitter buffer push + pop_ready, in order", best_us(jitter, len(packets)))
    frame = bytes(range(160))
    pcm = ulaw_decode(frame)
    ulaw_encode(pcm)  # build the encode table outside the timing
    report(
        "G.711 μ-law decode, 160 samples",
        best_us(lambda: [ulaw_decode(frame) for _ in range(1000)], 1000),
        "frame",
    )
    report(
        "G.711 μ-law encode, 160 samples",
        best_us(lambda: [ulaw_encode(pcm) for _ in range(1000)], 1000),
        "frame",
    )


if __name__ == "__main__":
    main()
