"""Per-packet CPU of the call's receive path: RTP header checks, per-SSRC stats, H.264
depacketization (or audio framing), the stream's GOP cache and fan-out to N packet sinks
plus one frame sink. The input is real H.264 (the black GOP from wcs.media.generators,
packetized at MTU 1200, plus a 30 kB FU-A keyframe every 30 pictures) and 20 ms PCMA.

Prints µs per packet (best of 5). Run: python3 bench/bench_receive.py

Measured here (2-core shared VM, CPython 3.11), without the recvfrom syscall:
video 4.5-4.8 µs/packet with 0-1 packet sinks, 5.1 with 10, 10.1 with 100 (null sinks);
the jitter buffer adds about 0.6-0.8 µs; audio (PCMA 20 ms) 3.0 µs, 8.5 with 100 sinks.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from wcs import sdp
from wcs.app.stream_feed import StreamFeed
from wcs.app.streams import StreamHub
from wcs.media.audio import AudioFrame
from wcs.media.generators import black_gop
from wcs.media.h264 import AccessUnit, H264Packetizer
from wcs.rtp.packet import RtpPacket
from wcs.rtp.session import RtpSession

PEER = ("10.0.0.1", 4000)


class NullPacketSink:
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def on_rtp(self, kind: str, packet: bytes) -> None:
        self.n += 1

    def on_stream_end(self, reason: str) -> None:
        pass


class NullFrameSink:
    def on_video(self, au: AccessUnit, pts_ms: float) -> None:
        pass

    def on_audio(self, frame: AudioFrame, pts_ms: float) -> None:
        pass

    def on_stream_end(self, reason: str) -> None:
        pass


def video_packets(pictures: int) -> list[bytes]:
    gop = black_gop()
    pk = H264Packetizer(mtu=1200)
    big_idr = b"\x65" + bytes(range(256)) * 117  # ~30 kB: a realistic keyframe's FU-A run
    out = []
    seq = 0
    for i in range(pictures):
        nals = list(gop[i % len(gop)])
        if i % 30 == 0:
            nals = [nals[0], nals[1], big_idr]
        payloads = pk.packetize(nals)
        for j, p in enumerate(payloads):
            out.append(
                RtpPacket(97, seq & 0xFFFF, 6000 * i, 0x1234, p, j == len(payloads) - 1).serialize()
            )
            seq += 1
    return out


def media(kind: str) -> sdp.NegotiatedMedia:
    if kind == "video":
        c = sdp.Codec(97, "H264", 90000, None, "packetization-mode=1")
    else:
        c = sdp.Codec(8, "PCMA", 8000)
    return sdp.NegotiatedMedia(0, kind, False, "sendrecv", PEER, PEER, False, c, c, [(c, c)])


def run(kind: str, packets: list[bytes], sinks: int, jitter: bool) -> float:
    feed = StreamFeed(0.0)
    publication = StreamHub().publish("bench", call_id=None, app_key="a")
    feed.stream = publication
    stream = publication.stream
    for _ in range(sinks):
        stream.subscribe_packets(NullPacketSink())
    stream.subscribe_frames(NullFrameSink())
    s = RtpSession(
        media(kind),
        feed,
        local_ssrc=1,
        cname="b",
        jitter_latency=0.05 if jitter else None,
        send_silence=False,
    )
    now = 0.0
    t0 = time.perf_counter()
    for p in packets:
        now += 0.001
        s.receive_rtp(p, PEER, now)
    return (time.perf_counter() - t0) / len(packets) * 1e6


def main() -> None:
    video = video_packets(600)
    audio = [
        RtpPacket(8, i & 0xFFFF, 160 * i, 0x99, b"\xd5" * 160).serialize() for i in range(5000)
    ]
    print(f"video: {len(video)} packets, {sum(map(len, video)) / len(video):.0f} B average")
    for kind, pkts in (("video", video), ("audio", audio)):
        for jitter in (False, True):
            for sinks in (0, 1, 10, 100):
                best = min(run(kind, pkts, sinks, jitter) for _ in range(5))
                jb = "jitter buffer" if jitter else "no jitter buffer"
                print(f"{kind:5} {jb:17} {sinks:3} packet sinks: {best:6.2f} µs/packet")


if __name__ == "__main__":
    main()
