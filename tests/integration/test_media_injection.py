"""Media injection (issue 18 item 4) against real peers: during a baresip call a forger sends
RTP with the negotiated payload types to our media ports, from its own socket, both with its
own SSRC and with the callee's. The forged video is a real H.264 stream of another size
(320x240, the callee sends 352x288) plus filler NAL units carrying a marker, so an injected
packet shows wherever it lands: in the stream's packets (what every WebRTC viewer gets), in
its frames (what pushes and recordings get), and in the pictures an aiortc viewer decodes.
The drop counter of the call and of ``/metrics`` rises instead.
"""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import pytest

from tests.integration.playback import Viewer, http, whep_play
from tests.integration.test_streams_real_peers import TONE_HZ, Frames, decode_video, running
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback  # noqa: F401
from wcs.media.generators import BLACK_HEIGHT, BLACK_WIDTH, black_gop
from wcs.media.h264 import H264Packetizer
from wcs.rtp.packet import RtpPacket

pytestmark = [pytest.mark.peers, pytest.mark.asyncio, pytest.mark.usefixtures("aiortc_on_loopback")]

MARK = b"FORGED-BY-THE-TEST"
FILLER = b"\x0c" + MARK  # H.264 filler data: decoders skip it, a byte search finds it


class PacketMarks:
    """A packet sink on the stream: how many packets, and how many carry the forged mark."""

    def __init__(self) -> None:
        self.packets = 0
        self.marked = 0

    def on_rtp(self, kind: str, packet: bytes) -> None:
        self.packets += 1
        self.marked += MARK in packet

    def on_stream_end(self, reason: str) -> None:
        pass


class Forger:
    """Sends a forged GOP (and marked filler) to the video port and marked audio to the audio
    port, ``rate`` pictures a second, in sequence (so probation alone would pass it)."""

    def __init__(self, video: tuple[int, int], audio: tuple[int, int], ssrcs: list[int]) -> None:
        self.video_port, self.video_pt = video
        self.audio_port, self.audio_pt = audio
        self.ssrcs = ssrcs
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sent = 0

    async def run(self, rate: float = 20.0) -> None:
        gop = black_gop()
        packetizer = H264Packetizer()
        seq = {s: 1000 for s in self.ssrcs}
        i = 0
        while True:
            for ssrc in self.ssrcs:
                ts = 4500 * i
                payloads = [*packetizer.packetize(list(gop[i % len(gop)])), FILLER]
                for n, p in enumerate(payloads):
                    last = n == len(payloads) - 1
                    pkt = RtpPacket(self.video_pt, seq[ssrc] & 0xFFFF, ts, ssrc, p, last)
                    self._send(pkt.serialize(), self.video_port)
                    seq[ssrc] += 1
                audio = RtpPacket(self.audio_pt, seq[ssrc] & 0xFFFF, 160 * i, ssrc, MARK * 8)
                self._send(audio.serialize(), self.audio_port)
                seq[ssrc] += 1
            i += 1
            await asyncio.sleep(1 / rate)

    def _send(self, data: bytes, port: int) -> None:
        self.sock.sendto(data, ("127.0.0.1", port))
        self.sent += 1


def dropped_in_metrics(text: str, kind: str) -> float:
    m = re.search(
        rf'^wcs_rtp_dropped_packets_total{{kind="{kind}",reason="source"}} (\S+)$', text, re.M
    )
    assert m is not None, text
    return float(m.group(1))


async def test_forged_rtp_never_reaches_the_stream_or_a_viewer(kamailio: Any, callee: Any) -> None:
    peer = callee(tone_hz=TONE_HZ)
    async with running() as r:
        cid, name = await r.call(kamailio, peer.user)
        await r.wait_status(cid, "ESTABLISHED")
        stream = await r.wait_stream(name)
        media = r.media[cid]
        video, audio = media.sessions["video"], media.sessions["audio"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while (video.ssrc is None or audio.ssrc is None) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        assert video.ssrc is not None and audio.ssrc is not None, "no media from the callee"
        assert media.video_ports is not None and media.audio_ports is not None
        marks, frames = PacketMarks(), Frames()
        stream.subscribe_packets(marks)
        stream.subscribe_frames(frames)
        forger = Forger(
            (media.video_ports.rtp_port, video.codec.payload_type),
            (media.audio_ports.rtp_port, audio.codec.payload_type),
            [0x0BAD0BAD, video.ssrc],  # its own SSRC, and the callee's
        )
        forger_address_seen = forger.sock.getsockname()
        forging = asyncio.create_task(forger.run())
        viewer = Viewer()
        base = f"http://127.0.0.1:{r.server.http.port}"
        try:
            await whep_play(base, name, viewer)
            await viewer.wait(frames=60, audio_s=2.0)
            status, _, text = await asyncio.to_thread(http, "GET", f"{base}/metrics")
            assert status == 200
            stats = media.stats()
        finally:
            forging.cancel()
            forger.sock.close()
            await viewer.close()
        await r.rest("call/terminate", {"callId": cid})
        await r.wait_status(cid, "FINISH")

    print(
        f"forger sent {forger.sent} packets; dropped video {stats['video']['droppedSource']}, "
        f"audio {stats['audio']['droppedSource']}; stream packets {marks.packets}; "
        f"viewer decoded {viewer.video_frames} frames {viewer.sizes}"
    )
    assert marks.packets > 100 and marks.marked == 0  # nothing forged reached any viewer
    assert viewer.sizes == {(352, 288)}  # never a forged (320x240) picture
    assert (BLACK_WIDTH, BLACK_HEIGHT) != (352, 288)
    assert abs(viewer.dominant_hz() - TONE_HZ) <= 0.02 * TONE_HZ
    sizes, pictures, errors = decode_video([au for au, _ in frames.video])
    assert sizes == {(352, 288)} and pictures > 30 and errors == []  # pushes and recordings
    assert not any(MARK in f.payload for f, _ in frames.audio)
    assert forger_address_seen not in (video.remote_rtp, audio.remote_rtp)  # our media still goes
    # to the callee
    for kind in ("video", "audio"):
        dropped = stats[kind]["droppedSource"]
        assert isinstance(dropped, int) and dropped > 0
        assert dropped_in_metrics(text.decode(), kind) > 0
