"""Micro-benchmark of the relay's per-packet cost (issue 15): origin seal, edge receive.

Edge: ``Relays.datagram_received`` (header, relay lookup, MAC check, RelayFeed:
forward to the packet sinks + H.264 depacketize onto the media clock) against the same
feed without the relay envelope, i.e. what a stream published on the edge itself costs
after its RTP session. Origin: seal (+MAC) per relay per packet. One packet sink attached
(a viewer's send is measured in bench_webrtc_send.py and is the same on either node).

Prints microseconds per packet (best of 5). Run: PYTHONPATH=. python bench/bench_cluster_relay.py
"""

from __future__ import annotations

import asyncio
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from wcs.app.stream import TrackInfo
from wcs.app.streams import StreamHub
from wcs.cluster.relay import RelayReceiver, Relays
from wcs.cluster.relay_feed import RelayFeed
from wcs.cluster.relay_wire import VIDEO, RelayCodec

N = 20_000
PAYLOAD = b"\x41\x9a" + bytes(1180)  # a non-IDR slice, one per packet (marker set)


def packets(n: int) -> list[bytes]:
    return [
        bytes([0x80, 0x80 | 96]) + (i & 0xFFFF).to_bytes(2, "big")
        + (i * 3000 & 0xFFFFFFFF).to_bytes(4, "big") + bytes(4) + PAYLOAD
        for i in range(n)
    ]  # fmt: skip


class NullSink:
    def on_rtp(self, kind: str, packet: bytes) -> None:
        pass

    def on_stream_end(self, reason: str) -> None:
        pass


def best(fn: object, number: int = 1) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / N * 1e6  # type: ignore[arg-type]


async def main() -> None:
    tracks = {"video": TrackInfo("video", "H264", 90000, payload_type=96)}
    rtp = packets(N)
    for auth in (True, False):
        hub = StreamHub()
        relays = Relays(
            "E", hub, auth=auth, grace=60, max_relays=1, open_timeout=1, in_use=lambda s: True
        )
        codec = RelayCodec(b"12345678", b"k" * 32 if auth else None)
        receiver = RelayReceiver(relays, "s", "O", "O", codec)
        relays.receivers[codec.relay_id] = receiver
        pub = hub.publish("s", call_id=None, app_key="a", tracks=tracks)
        pub.stream.subscribe_packets(NullSink())
        receiver.publish(pub)
        sealed = [codec.seal(VIDEO, p) for p in rtp]
        mode = "mac" if auth else "none"
        seal = best(lambda c=codec: [c.seal(VIDEO, p) for p in rtp])
        edge = best(
            lambda r=relays, s=sealed: [r.datagram_received(d, ("127.0.0.1", 1)) for d in s]
        )
        print(f"origin seal per packet per relay ({mode})            {seal:6.2f} us")
        print(f"edge receive per packet ({mode}: open + feed + 1 sink) {edge:6.2f} us")
    hub = StreamHub()
    pub = hub.publish("l", call_id=None, app_key="a", tracks=tracks)
    pub.stream.subscribe_packets(NullSink())
    feed = RelayFeed(pub, tracks, 0.0, lambda: None)
    local = best(lambda: [feed.receive("video", p, 1.0) for p in rtp])
    print(f"local stream feed per packet (feed + 1 sink)          {local:6.2f} us")


if __name__ == "__main__":
    asyncio.run(main())
