"""A VP8 publisher (aiortc over WHIP): WebRTC viewers get its VP8 as is, while an RTMP push
to nginx-rtmp and a recording get H.264 transcoded on the server (only while they run)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import WcsFactory, WcsProcess
from tests.integration.playback import Viewer
from tests.integration.publishing import Publisher
from tests.integration.test_publish_aiortc import (
    check_viewer,
    published,
    push_h264_aac,
    record_h264,
    whep_view,
    whip_post,
)
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback  # noqa: F401

pytestmark = [pytest.mark.peers, pytest.mark.asyncio, pytest.mark.usefixtures("aiortc_on_loopback")]


def metric(server: WcsProcess, name: str) -> float:
    """The value of ``name`` (with its labels when given: ``x{a="b"}``) in /metrics."""
    import urllib.request

    with urllib.request.urlopen(f"{server.base}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " ") or ("{" not in name and line.startswith(name + "{")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


async def publish_vp8(server: WcsProcess, name: str, pub: Publisher) -> dict[str, Any]:
    status, _, answer = await whip_post(server, name, await pub.offer())
    assert status == 201 and "VP8/90000" in answer and "H264" not in answer, answer
    await pub.answer(answer)
    deadline = time.monotonic() + 20
    entry = None
    while time.monotonic() < deadline:
        entry = await asyncio.to_thread(published, server, name)
        if entry is not None and entry["packetsReceived"] > 50:
            return entry
        await asyncio.sleep(0.2)
    raise AssertionError(f"{name} not publishing: {entry}")


async def test_vp8_publisher_pushed_and_recorded_as_h264(
    wcs: WcsFactory, nginx_rtmp: Any, tmp_path: Path
) -> None:
    records = tmp_path / "records"
    server = wcs(record_dir=str(records), vp8_transcode_queue=25)
    name = "vp8t_" + uuid.uuid4().hex[:8]
    pub = Publisher(video_codec="VP8")
    viewer: Viewer | None = None
    try:
        entry = await publish_vp8(server, name, pub)
        assert entry["videoCodec"] == "VP8", entry
        # A viewer alone: VP8 forwarded, nothing transcoded.
        viewer = await whep_view(server, name)
        await viewer.wait(frames=30, audio_s=1.5)
        check_viewer(viewer)
        assert metric(server, "wcs_vp8_transcoders") == 0
        assert metric(server, "wcs_vp8_transcoded_frames_total") == 0
        assert metric(server, 'wcs_limit{limit="vp8_transcode_queue"}') == 25  # the setting

        # An RTMP push: nginx-rtmp gets H.264 (made from the VP8) and AAC (from the Opus).
        await push_h264_aac(server, nginx_rtmp, name)
        assert metric(server, "wcs_vp8_transcoders") == 1  # one per stream, shared

        # A recording of the same stream: H.264 video in the file (MKV: Opus kept).
        msid = entry["mediaSessionId"]
        file, info, kinds = await record_h264(server, msid, records)
        print(f"recording {file.name}: {info['format']['duration']} s, {kinds}")
        assert metric(server, "wcs_vp8_transcoded_frames_total") > 50

        # The push ends: no frame sink wants video any more, the transcoder stops.
        (push,) = server.rest("push/find_all")[1]
        assert server.rest("push/terminate", {"mediaSessionId": push["mediaSessionId"]})[0] == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and metric(server, "wcs_vp8_transcoders") != 0:
            await asyncio.sleep(0.1)
        assert metric(server, "wcs_vp8_transcoders") == 0
        # The viewer still gets VP8 all along.
        frames = viewer.video_frames
        await viewer.wait(frames=frames + 10, audio_s=0)
    finally:
        if viewer is not None:
            await viewer.close()
        await pub.close()
