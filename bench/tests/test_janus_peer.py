"""The Janus peer (tests/peers/janus.py) with the farm's light viewer: a real Janus."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from bench.lightrtc import LightViewer, SendLog
from bench.trace_feed import Destination, Feeder, load_trace
from tests.peers.janus import JanusApi, start_janus
from wcs.webrtc.certificate import Certificate

pytestmark = pytest.mark.peers


@pytest.mark.asyncio
async def test_janus_streams_the_trace_to_a_light_viewer(tmp_path: Path) -> None:
    janus = start_janus(tmp_path / "janus")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    log = SendLog()
    feeder = Feeder(load_trace())
    feeder.add(
        Destination(
            sock, ("127.0.0.1", janus.audio_port), ("127.0.0.1", janus.video_port), log=log
        ),
        phase=0.0,
    )
    task = asyncio.create_task(feeder.run())
    api = JanusApi(janus.url)
    viewer = LightViewer(Certificate.generate(), correlator=log)
    try:
        await asyncio.sleep(1.0)  # a keyframe reaches the mountpoint first
        offer = await asyncio.to_thread(api.watch)
        assert "H264/90000" in offer and "PCMU/8000" in offer
        await asyncio.to_thread(api.start, viewer.answer(offer))
        viewer.start()
        await asyncio.wait_for(viewer.connected.wait(), 20)
        assert viewer.failed == ""
        for _ in range(100):
            if viewer.latencies(96):
                break
            await asyncio.sleep(0.1)
        s = viewer.summary()
        assert s["packets"] > 0
        assert s["verify_failed"] == 0 and s["verified"] > 0
        # Janus drops our extension; the video latencies come from sequence correlation
        assert s["no_stamp"] == s["packets"]
        assert viewer.latencies(96)
    finally:
        viewer.close()
        await asyncio.to_thread(api.destroy)
        task.cancel()
        sock.close()
        janus.stop()
