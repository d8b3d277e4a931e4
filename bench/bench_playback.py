"""Viewer fan-out: RTP in on a UDP socket -> stream -> N WebRTC viewers -> SRTP out.

One H.264 + PCMU stream (the callee's media of conformance/traces/02-call-av.pcap, looped with
continuous sequence numbers and timestamps, paced in real time by a feeder process) is played
by N viewers made by the real ``Playback`` (answer negotiated from a Chrome-like offer, one
SRTP session and one UDP socket each; DTLS is skipped by handing the peer SRTP keys, and each
viewer sends to its own unread sink socket).

Per N it reports:
- CPU time of the server process per forwarded SRTP packet (process time / packets out; this
  includes the event loop's receive path and idle overhead, so it is an upper bound);
- viewers per core = 1 / (CPU per packet x packets per second per viewer);
- server-added latency per received packet: from ``datagram_received`` being entered to the
  last viewer's ``sendto`` having returned (the first viewer is out sooner), p50 / p99.

Run: python3 bench/bench_playback.py [seconds] [viewer counts, e.g. 1,10,50]
(The side-by-side with Janus is `make bench`, bench/run.py, with the project's own Janus peer.)
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import statistics
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from wcs.app.streams import Publication, StreamHub, TrackInfo
from wcs.pcap import read_pcap
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.dtls import DtlsConnected
from wcs.webrtc.transport import PeerSettings
from wcs.webrtc.viewer import Playback

TRACE = Path(__file__).resolve().parents[1] / "conformance" / "traces" / "02-call-av.pcap"
AUDIO_PORT, VIDEO_PORT = 20028, 20012  # the callee's media in the trace
OFFER = """v=0
o=- 1 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
m=audio 9 UDP/TLS/RTP/SAVPF 0
c=IN IP4 0.0.0.0
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuv
a=fingerprint:sha-256 {FP}
a=setup:actpass
a=mid:0
a=recvonly
a=rtcp-mux
a=rtpmap:0 PCMU/8000
m=video 9 UDP/TLS/RTP/SAVPF 108
c=IN IP4 0.0.0.0
a=mid:1
a=recvonly
a=rtcp-mux
a=rtpmap:108 H264/90000
a=rtcp-fb:108 nack pli
a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f
""".replace("{FP}", ":".join(["00", "11"] * 16))


def trace() -> list[tuple[float, int, bytes]]:
    """(time, kind flag 0 audio / 1 video, packet) of the callee's RTP."""
    out = []
    for pkt in read_pcap(TRACE):
        p = pkt.payload
        if pkt.proto != "udp" or len(p) < 12 or p[0] >> 6 != 2 or 192 <= p[1] <= 223:
            continue
        if pkt.src[1] in (AUDIO_PORT, VIDEO_PORT):
            out.append((pkt.time, int(pkt.src[1] == VIDEO_PORT), p))
    t0 = out[0][0]
    return [(t - t0, k, p) for t, k, p in out]


def feeder(port: int, seconds: float, janus_ports: tuple[int, int] | None = None) -> None:
    """Send the trace in real time, looped; byte 0 of a 1-byte prefix says audio/video.
    With ``janus_ports`` (audio, video): plain RTP to those ports, no prefix."""
    packets = trace()
    span = packets[-1][0] + 0.02
    rates = {0: 8000, 1: 90000}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.perf_counter()
    loop = 0
    counts = {0: 0, 1: 0}
    while True:
        for t, kind, p in packets:
            at = start + loop * span + t
            if at - start > seconds:
                return
            delay = at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            seq, ts = struct.unpack_from("!HI", p, 2)
            seq = (seq + loop * 1000) & 0xFFFF
            ts = (ts + int(loop * span * rates[kind])) & 0xFFFFFFFF
            counts[kind] += 1
            out = p[:2] + struct.pack("!HI", seq, ts) + p[8:]
            if janus_ports is None:
                sock.sendto(bytes([kind]) + out, ("127.0.0.1", port))
            else:
                # Janus's mountpoint expects its configured payload types (PCMU 0, H264 96).
                out = bytes([out[0], (out[1] & 0x80) | (96 if kind else 0)]) + out[2:]
                sock.sendto(out, ("127.0.0.1", janus_ports[kind]))
        loop += 1


class Inlet(asyncio.DatagramProtocol):
    def __init__(self, publication: Publication) -> None:
        self.feed = publication.feed_rtp
        self.latencies: list[float] = []
        self.packets = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        t = time.perf_counter()
        kind = "video" if data[0] else "audio"
        packet = data[1:]
        self.feed(kind, packet, int.from_bytes(packet[4:8], "big"))
        self.latencies.append(time.perf_counter() - t)
        self.packets += 1


async def run(n: int, seconds: float) -> dict[str, float]:
    hub = StreamHub()
    stream = hub.publish("s", call_id=None, app_key="bench")
    stream.set_tracks(
        {
            "audio": TrackInfo("audio", "PCMU", 8000, payload_type=0),
            "video": TrackInfo(
                "video",
                "H264",
                90000,
                fmtp="profile-level-id=42e01f;packetization-mode=0",
                payload_type=96,
            ),
        }
    )
    playback = Playback(hub, PeerSettings(Certificate.generate(), bind_ip="127.0.0.1"))
    sinks = []
    viewers = []
    for i in range(n):
        viewer, _ = await playback.play("s", OFFER, f"v{i}")
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        sinks.append(sink)
        viewer.peer.ice.select_remote(*sink.getsockname())
        viewer.peer._connected(
            DtlsConnected("SRTP_AES128_CM_SHA1_80", os.urandom(30), os.urandom(30))
        )
        viewers.append(viewer)
    loop = asyncio.get_running_loop()
    transport, inlet = await loop.create_datagram_endpoint(
        lambda: Inlet(stream), local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    proc = multiprocessing.Process(target=feeder, args=(port, seconds), daemon=True)
    cpu0 = time.process_time()
    proc.start()
    while proc.is_alive():  # never block the loop: it is the server under test
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.2)  # let the last datagrams in
    cpu = time.process_time() - cpu0
    transport.close()
    out = sum(s.packets for v in viewers for s in v.peer.senders.values())
    errors = sum(v.peer.send_errors for v in viewers)
    await playback.close()
    for s in sinks:
        s.close()
    lat = sorted(inlet.latencies)
    per_viewer_pps = out / n / seconds
    cpu_per_packet = cpu / out
    return {
        "viewers": n,
        "in": inlet.packets,
        "out": out,
        "errors": errors,
        "pps_per_viewer": per_viewer_pps,
        "cpu_us_per_packet": cpu_per_packet * 1e6,
        "cpu_s": cpu,
        "viewers_per_core": 1 / (cpu_per_packet * per_viewer_pps),
        "p50_us": statistics.median(lat) * 1e6,
        "p99_us": lat[int(len(lat) * 0.99) - 1] * 1e6,
    }


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    seconds = float(args[0]) if args else 10.0
    counts = [int(x) for x in (args[1] if len(args) > 1 else "1,10,50").split(",")]
    print(
        f"{seconds:.0f} s of H.264 (352x288, 15 fps) + PCMU per run, "
        f"CPython {sys.version.split()[0]}"
    )
    print(
        "| viewers | packets in | SRTP out | send errors | CPU s | CPU µs per packet out "
        "| marginal µs per packet out | viewers per core | added latency p50 / p99 µs |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    base: dict[str, float] | None = None
    for n in counts:
        r = asyncio.run(run(n, seconds))
        # The marginal cost: what one more viewer's packets cost, receive path excluded.
        marginal = (
            (r["cpu_s"] - base["cpu_s"]) / (r["out"] - base["out"]) * 1e6
            if base is not None and r["out"] > base["out"]
            else float("nan")
        )
        base = base or r
        per_core = (
            1e6 / (marginal * r["pps_per_viewer"])
            if marginal == marginal
            else r["viewers_per_core"]
        )
        print(
            f"| {n} | {r['in']:.0f} | {r['out']:.0f} | {r['errors']:.0f} | {r['cpu_s']:.2f} "
            f"| {r['cpu_us_per_packet']:.1f} | {marginal:.1f} | {per_core:.0f} "
            f"| {r['p50_us']:.0f} / {r['p99_us']:.0f} |"
        )
    print(
        f"({r['pps_per_viewer']:.0f} packets/s per viewer; latency is datagram_received entered "
        "to the last viewer's sendto returned)"
    )


if __name__ == "__main__":
    main()
