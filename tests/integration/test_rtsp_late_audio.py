"""RTSP of a stream whose audio appears after its video, and RTP-Info, with real players.

The stream is the trace's call looped in real time (tests/integration/trace_publisher.py),
published with its video only; its audio track is added a few seconds later. DESCRIBE lists
what is known: first the video alone (trackID=0), then video and audio (trackID=1), and
ffprobe finds exactly those. A GStreamer player started on the video-only stream keeps
playing it across the audio's arrival until the stream ends. A PLAY's RTP-Info
(RFC 2326 12.33) names, per track, the sequence number and RTP timestamp of the first packet
the player then receives on that track.
"""

from __future__ import annotations

import asyncio
import re
import struct

import pytest

from tests.integration.playout_helpers import (
    GST,
    GST_RTSP_LOG,
    ffprobe,
    rtsp_exchange,
    rtspsrc_shutdown_race,
    run,
    status_of,
    teardown_answered,
)
from tests.integration.test_streams_real_peers import running
from tests.integration.trace_publisher import TracePublisher

pytestmark = [pytest.mark.peers, pytest.mark.asyncio]


def controls(sdp: str) -> list[str]:
    return re.findall(r"^(m=\w+|a=control:trackID=\d+)", sdp, re.M)


async def rtp_info_and_first_packets(
    port: int, url: str
) -> tuple[dict[int, tuple[int, int]], dict[int, tuple[int, int]]]:
    """SETUP both tracks interleaved, PLAY: (RTP-Info by track, first packet by track)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def ask(text: str) -> str:
        writer.write(text.encode())
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
        assert status_of(head) == 200, head
        return head

    head = await ask(f"SETUP {url}/trackID=0 RTSP/1.0\r\nCSeq: 1\r\n"
                     "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n")  # fmt: skip
    session = re.search(r"Session: ([^;\r]+)", head)
    assert session
    await ask(f"SETUP {url}/trackID=1 RTSP/1.0\r\nCSeq: 2\r\nSession: {session.group(1)}\r\n"
              "Transport: RTP/AVP/TCP;unicast;interleaved=2-3\r\n\r\n")  # fmt: skip
    head = await ask(f"PLAY {url} RTSP/1.0\r\nCSeq: 3\r\nSession: {session.group(1)}\r\n\r\n")
    info = {
        int(t): (int(seq), int(ts))
        for t, seq, ts in re.findall(r"trackID=(\d+);seq=(\d+);rtptime=(\d+)", head)
    }
    first: dict[int, tuple[int, int]] = {}
    try:
        while len(first) < 2:
            magic, channel, size = struct.unpack("!cBH", await reader.readexactly(4))
            assert magic == b"$"
            packet = await reader.readexactly(size)
            if channel in (0, 2) and channel // 2 not in first:
                seq, ts = struct.unpack_from("!HI", packet, 2)
                first[channel // 2] = (seq, ts)
    finally:
        writer.close()
    return info, first


async def test_late_audio_and_rtp_info() -> None:
    async with running() as r:
        publisher = TracePublisher(r.server.streams, "late", audio=False)
        publisher.start()
        try:
            stream = publisher.pub.stream
            for _ in range(100):
                if stream.cached_keyframe is not None:
                    break
                await asyncio.sleep(0.1)
            port = r.server.playout.rtsp.port
            url = f"rtsp://127.0.0.1:{port}/late"
            describe = await rtsp_exchange(port, f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n")
            assert controls(describe) == ["m=video", "a=control:trackID=0"]

            # A player of the video-only stream, kept running across the audio's arrival.
            argv = [GST, "-e", "-v", "rtspsrc", f"location={url}", "protocols=tcp", "!",
                    "application/x-rtp,media=video", "!", "rtph264depay", "!",
                    "fakesink", "silent=false", "name=v"]  # fmt: skip
            early = asyncio.create_task(run(argv, timeout=60, interrupt_after=40, env=GST_RTSP_LOG))
            streams = await ffprobe(url, "-rtsp_transport", "udp", seconds=2)
            assert set(streams) == {"video"}
            assert (streams["video"]["codec_name"], streams["video"]["width"]) == ("h264", 352)

            publisher.add_audio()
            await asyncio.sleep(0.5)
            describe = await rtsp_exchange(port, f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 2\r\n\r\n")
            assert controls(describe) == [
                "m=video", "a=control:trackID=0", "m=audio", "a=control:trackID=1"
            ]  # fmt: skip
            for transport in ("udp", "tcp"):
                # PLAY starts at the cached keyframe, up to one loop (3 s) old: the video's
                # read interval covers that burst, the audio's only what came live since.
                streams = await ffprobe(url, "-rtsp_transport", transport, seconds=6)
                assert streams["audio"]["codec_name"] == "pcm_mulaw"
                assert int(streams["audio"]["nb_read_frames"]) > 50
                assert int(streams["video"]["nb_read_frames"]) > 20

            info, first = await rtp_info_and_first_packets(port, url)
            assert set(info) == {0, 1}
            assert first == info
        finally:
            await publisher.stop()  # the end: RTCP BYE ends the early player
        rc, out, err = await early
        assert teardown_answered(err), err[-3000:]
        assert rc == 0 or rtspsrc_shutdown_race(err), err[-3000:]
        pictures = out.count("/GstPipeline:pipeline0/GstFakeSink:v: last-message = chain")
        assert pictures > 50, out[-2000:]
