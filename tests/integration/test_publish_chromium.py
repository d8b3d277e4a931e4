"""Headless Chromium publishes its fake camera and microphone through the official
``@flashphoner/websdk`` "Two Way Streaming" example page, unchanged, and plays its own stream
back on the same page; stopping the publisher stops the player. The built-in page's Publish
(WHIP, trickled candidates) plays in an aiortc viewer."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ports import free_port
from tests.integration.conftest import HookCollector, WcsFactory
from tests.integration.playback import Viewer
from tests.integration.test_playback_chromium import npm_dir, run_player, sdk_site  # noqa: F401
from tests.integration.test_publish_aiortc import (
    published,
    publisher_statuses,
    wait_published,
    whep_view,
)
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback  # noqa: F401
from tests.peers.chromium import HEADLESS_FLAGS

pytestmark = pytest.mark.peers

DRIVER = Path(__file__).with_name("websdk_two_way.cjs")
PAGE = "examples/demo/streaming/two_way_streaming/two_way_streaming.html"


def test_two_way_streaming_page_publishes_and_plays_back(
    wcs: WcsFactory,
    hooks: HookCollector,
    chromium: Any,
    npm_dir: Path,  # noqa: F811
    sdk_site: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    ws_port = free_port()
    server = wcs(rest_hooks=f"defaultApp={hooks.url}", ws_port=ws_port)
    result = run_player(
        npm_dir,
        chromium,
        f"{sdk_site}/{PAGE}",
        f"ws://127.0.0.1:{ws_port}",
        tmp_path / "udd",
        driver=DRIVER,
    )
    print("Two Way Streaming:", json.dumps(result))
    assert result["ok"], (result, server.log()[-3000:])
    assert result["statuses"] == ["PUBLISHING", "PLAYING", "UNPUBLISHED", "STOPPED"]
    first, second = result["first"], result["second"]
    assert second["framesEncoded"] > 0
    assert second["framesDecoded"] > first["framesDecoded"] > 0
    assert second["totalSamplesReceived"] > first["totalSamplesReceived"] > 0
    assert second["videoCodec"] == second["sentCodec"]  # forwarded, not re-encoded
    name = result["name"]
    published = [
        e
        for m, e in hooks.events
        if m == "StreamStatusEvent" and e["name"] == name and e["published"]
    ]
    assert [e["status"] for e in published] == ["PUBLISHING", "UNPUBLISHED"]
    assert {e["mediaProvider"] for e in published} == {"WebRTC"}


PUBLISH_DRIVER = Path(__file__).with_name("builtin_publish.cjs")


@pytest.mark.asyncio
@pytest.mark.usefixtures("aiortc_on_loopback")
async def test_builtin_page_publishes_and_an_aiortc_viewer_plays_it(
    wcs: WcsFactory,
    hooks: HookCollector,
    chromium: Any,
    npm_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The built-in page's Publish: Chromium's fake camera and microphone over WHIP, its
    candidates trickled with PATCH; an aiortc viewer decodes the stream; Stop publishing
    unpublishes it."""
    server = wcs(rest_hooks=f"defaultApp={hooks.url}")
    name = "page_" + uuid.uuid4().hex[:8]
    udd = tmp_path / "udd"
    node = shutil.which("node")
    assert node, "node is not installed"
    flags = [f for f in HEADLESS_FLAGS if f != "--headless"]
    proc = await asyncio.create_subprocess_exec(
        node, str(PUBLISH_DRIVER), f"{server.base}/", name, str(udd),
        chromium.path, json.dumps(flags),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env={"NODE_PATH": str(npm_dir / "node_modules"), "PATH": "/usr/bin:/bin",
             "HOME": str(udd)},
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    viewer: Viewer | None = None
    lines: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), 90)).decode()
            assert line, f"the driver ended: {lines}"
            lines.append(line)
            if line.startswith(("PUBLISHING ", "RESULT ")):
                break
        assert line.startswith("PUBLISHING "), lines
        started = json.loads(line[len("PUBLISHING ") :])
        assert started["source"] == "camera"  # Chromium's fake devices
        entry = await wait_published(server, name, timeout=30)
        assert entry["mediaProvider"] == "WebRTC" and entry["status"] == "PUBLISHING"
        assert started["location"] == f"/whip/{name}/{entry['mediaSessionId']}"
        viewer = await whep_view(server, name)
        await viewer.wait(frames=30, audio_s=1.5)
        assert viewer.sizes, "no video decoded"
        assert viewer.audio_seconds() >= 1.5
        proc.stdin.write(b"stop\n")
        await proc.stdin.drain()
        out = (await asyncio.wait_for(proc.stdout.read(), 60)).decode()
        result_line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
        assert result_line, out[-3000:]
        result = json.loads(result_line[-1][len("RESULT ") :])
        print("built-in page publisher:", json.dumps(result), "viewer sizes:", viewer.sizes)
        assert result["ok"], result
        assert result["patches"] >= 1  # candidates went by PATCH (trickle), answered 204
        assert result["stats"]["framesEncoded"] > 0 and result["stats"]["audioPackets"] > 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and await asyncio.to_thread(published, server, name):
            await asyncio.sleep(0.1)
        assert await asyncio.to_thread(published, server, name) is None
        statuses = publisher_statuses(hooks, name)
        assert statuses == ["PUBLISHING", "UNPUBLISHED"], statuses
    finally:
        if viewer is not None:
            await viewer.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
