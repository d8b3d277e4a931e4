"""A live stream without a call: the callee's media of conformance/traces/02-call-av.pcap
(H.264 352x288 + PCMU, about 3 s) published into the hub and looped in real time, the
RTP sequence numbers and timestamps carried on across loops (each loop starts on the
trace's keyframe); packets and frames are fed as a call's media are (RTP for WebRTC and
RTSP, access units and audio frames for HLS and recordings). The audio track can be added
later (``add_audio``): a stream whose audio appears after its video."""

from __future__ import annotations

import asyncio
import struct

from tests.unit.rtsp.test_ffprobe import trace_packets
from wcs.app.stream import TrackInfo
from wcs.app.streams import Publication, StreamHub, StreamStatus
from wcs.media.audio import PCMU, frame_from_rtp
from wcs.media.h264 import H264Depacketizer

SPAN_S = 3.06  # the trace's 153 PCMU packets of 20 ms


class TracePublisher:
    def __init__(self, hub: StreamHub, name: str, audio: bool = True) -> None:
        self.packets, self.pts = trace_packets()
        self.video = TrackInfo("video", "H264", 90000, fmtp="packetization-mode=1",
                               payload_type=self.pts["video"])  # fmt: skip
        self.audio = TrackInfo("audio", "PCMU", 8000, payload_type=self.pts["audio"])
        tracks = {"video": self.video, **({"audio": self.audio} if audio else {})}
        self.pub: Publication = hub.publish(name, call_id=None, app_key="test", tracks=tracks)
        self.sending_audio = audio
        self._depack = H264Depacketizer()
        self._task: asyncio.Task[None] | None = None
        self.loops = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def add_audio(self) -> None:
        self.pub.update_track(self.audio)
        self.sending_audio = True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.pub.stream.status is StreamStatus.PUBLISHING:
            self.pub.unpublish("publisher stopped")

    def _spans(self) -> dict[str, tuple[int, int]]:
        """(sequence numbers, RTP timestamp ticks) one loop of each kind advances."""
        out = {}
        for kind, tick in (("video", 3600), ("audio", 160)):
            heads = [struct.unpack_from("!HI", p, 2) for k, p in self.packets if k == kind]
            out[kind] = (len(heads), heads[-1][1] - heads[0][1] + tick)
        return out

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        spans = self._spans()
        interval = SPAN_S / len(self.packets)
        start = loop.time()
        n = 0
        while True:
            for kind, original in self.packets:
                n += 1
                delay = start + n * interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                seq, ts = struct.unpack_from("!HI", original, 2)
                seq = (seq + self.loops * spans[kind][0]) & 0xFFFF
                ts = (ts + self.loops * spans[kind][1]) & 0xFFFFFFFF
                packet = original[:2] + struct.pack("!HI", seq, ts) + original[8:]
                if kind == "video":
                    self.pub.feed_rtp(kind, packet, ts)
                    payload = packet[12 + 4 * (packet[0] & 0x0F) :]
                    for au in self._depack.push(payload, seq, ts, bool(packet[1] & 0x80)):
                        self.pub.feed_video(au, (loop.time() - start) * 1000)
                elif self.sending_audio:
                    self.pub.feed_rtp(kind, packet, ts)
                    payload = packet[12 + 4 * (packet[0] & 0x0F) :]
                    frame = frame_from_rtp(PCMU, payload, ts)
                    self.pub.feed_audio(frame, (loop.time() - start) * 1000)
            self.loops += 1
