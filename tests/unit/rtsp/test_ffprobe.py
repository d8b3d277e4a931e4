"""ffprobe (FFmpeg's RTSP client, a real player) plays the trace's call from the RTSP core.

A minimal asyncio edge written here drives :class:`RtspConnection` on a loopback port: on
PlayStarted it sends the callee's RTP packets of conformance/traces/02-call-av.pcap as they
were received, interleaved over TCP (then an RTCP SR + BYE per track: the end of the
stream) or over UDP to the client's ports (then the control connection closes, which ends
ffprobe; GStreamer reconnects instead, so it is run over TCP only). The players must find
H.264 at the SPS's size and PCMU, and get every picture.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
from collections.abc import Callable

import pytest

from tests.peers.procs import require_binary
from tests.unit.record.frames import TRACE, trace_frames
from wcs.pcap import read_pcap
from wcs.rtp.rtcp import Bye, SenderReport, serialize_compound
from wcs.rtsp import (
    CloseConnection,
    PlayStarted,
    RtspConnection,
    RtspTrack,
    StreamDescription,
)

# A missing player is a failure, not a skip (install-peers.sh installs it). GStreamer's
# RTSP client plays the live server in tests/integration (paced media; this test bursts).
FFPROBE = require_binary("ffprobe", "ffmpeg")


def trace_packets() -> tuple[list[tuple[str, bytes]], dict[str, int]]:
    """(kind, RTP packet) the callee sent, in order, and each kind's payload type."""
    ports: dict[str, int] = {}
    out: list[tuple[str, bytes]] = []
    pts: dict[str, int] = {}
    for p in read_pcap(TRACE):
        if p.proto != "udp":
            continue
        if p.payload.startswith(b"SIP/2.0 200") and b"m=audio" in p.payload:
            body = p.payload.decode("utf-8", "replace")
            ports = {m: int(n) for m, n in re.findall(r"^m=(audio|video) (\d+)", body, re.M)}
            continue
        if not ports or len(p.payload) < 12 or p.payload[0] >> 6 != 2 or p.dst[1] % 2:
            continue
        kind = next((k for k, port in ports.items() if port == p.src[1]), None)
        pt = p.payload[1] & 0x7F
        if kind is None or (kind == "audio" and pt != 0):
            continue  # not the callee's, or telephone-event: not in the SDP
        pts.setdefault(kind, pt)
        out.append((kind, p.payload))
    return out, pts


def parameter_sets() -> tuple[bytes, bytes]:
    key = next(f.au for f in trace_frames() if f.au is not None and f.au.keyframe)
    sps = next(n for n in key.nals if n[0] & 0x1F == 7)
    pps = next(n for n in key.nals if n[0] & 0x1F == 8)
    return sps, pps


class Source:
    def __init__(self, pts: dict[str, int]) -> None:
        sps, pps = parameter_sets()
        video = RtspTrack("video", "H264", 90000, pts["video"], fmtp="packetization-mode=1",
                          sps=sps, pps=pps)  # fmt: skip
        audio = RtspTrack("audio", "PCMU", 8000, pts["audio"])
        self.stream = StreamDescription("call", (video, audio))

    def describe(self, name: str) -> StreamDescription | None:
        return self.stream if name == "call" else None

    def rtp_info(self, name: str, track: int) -> tuple[int, int] | None:
        return None


async def serve_and_run(transport: str, argv: Callable[[str], list[str]]) -> str:
    """Serve the call on a loopback port, run the player ``argv(url)``, return its stdout."""
    packets, pts = trace_packets()
    source = Source(pts)
    loop = asyncio.get_running_loop()
    udp_socks: list[asyncio.DatagramTransport] = []

    async def udp_pair() -> tuple[int, int]:
        pair = []
        for _ in range(2):
            t, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                       local_addr=("127.0.0.1", 0))  # fmt: skip
            udp_socks.append(t)
            pair.append(t.get_extra_info("sockname")[1])
        return pair[0], pair[1]

    spare_ports = [await udp_pair() for _ in range(2)]
    kinds = {"video": 0, "audio": 1}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = RtspConnection(source, "127.0.0.1", "127.0.0.1",
                              udp_ports=lambda: spare_ports.pop(0))  # fmt: skip
        try:
            while not conn.closed:
                data = await reader.read(4096)
                now = loop.time()
                if not data:
                    conn.connection_lost(now)
                    break
                conn.receive_data(data, now)
                writer.write(conn.data_to_send(now))
                while (event := conn.next_event()) is not None:
                    if isinstance(event, CloseConnection):
                        return
                    if not isinstance(event, PlayStarted):
                        continue
                    await play(conn, event, writer)
                    if not all(t.tcp for t in event.tracks.values()):
                        # Over UDP a BYE may overtake the last RTP packets (other socket):
                        # closing the control connection ends the session for ffprobe.
                        return
        finally:
            writer.close()

    async def play(conn: RtspConnection, event: PlayStarted, writer: asyncio.StreamWriter) -> None:
        """Every packet of the call, then SR + BYE per track: the end of the stream."""
        last: dict[int, bytes] = {}
        for kind, packet in packets:
            track = kinds[kind]
            last[track] = packet
            await send(conn, event, writer, track, packet, rtcp=False)
        for track, packet in last.items() if all(t.tcp for t in event.tracks.values()) else ():
            rtp_ts, ssrc = struct.unpack_from("!II", packet, 4)
            bye = serialize_compound([SenderReport(ssrc, 0, rtp_ts), Bye([ssrc])])
            await send(conn, event, writer, track, bye, rtcp=True)

    async def send(conn: RtspConnection, event: PlayStarted, writer: asyncio.StreamWriter,
                   track: int, data: bytes, rtcp: bool) -> None:  # fmt: skip
        t = event.tracks[track]
        if t.tcp:
            assert conn.send_interleaved(event.session_id, track, data, rtcp)
            writer.write(conn.data_to_send(loop.time()))
            await writer.drain()
        else:
            assert t.client_ports is not None
            sock = udp_socks[2 * track + int(rtcp)]  # the pair the SETUP got, in order
            sock.sendto(data, (event.client_host, t.client_ports[int(rtcp)]))
            await asyncio.sleep(0)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        *argv(f"rtsp://127.0.0.1:{port}/call"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    server.close()
    for sock in udp_socks:
        sock.close()
    assert proc.returncode == 0, err.decode()
    return out.decode()


def ffprobe(transport: str) -> Callable[[str], list[str]]:
    entries = "stream=codec_type,codec_name,width,height,nb_read_frames,sample_rate"
    return lambda url: [FFPROBE, "-v", "error", "-rtsp_transport", transport, "-count_frames",
                        "-show_entries", entries, "-of", "json", url]  # fmt: skip


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_ffprobe_plays_the_call(transport: str) -> None:
    out = asyncio.run(serve_and_run(transport, ffprobe(transport)))
    streams = {s["codec_type"]: s for s in json.loads(out)["streams"]}
    video, audio = streams["video"], streams["audio"]
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 352, 288)
    assert int(str(video["nb_read_frames"])) == 46
    assert audio["codec_name"] == "pcm_mulaw" and audio["sample_rate"] == "8000"
    assert int(str(audio["nb_read_frames"])) > 100
