"""Headless Chromium publishes its fake camera and microphone through the official
``@flashphoner/websdk`` "Two Way Streaming" example page, unchanged, and plays its own stream
back on the same page; stopping the publisher stops the player."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ports import free_port
from tests.integration.conftest import HookCollector, WcsFactory
from tests.integration.test_playback_chromium import npm_dir, run_player, sdk_site  # noqa: F401

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
