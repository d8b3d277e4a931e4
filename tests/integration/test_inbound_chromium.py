"""Headless Chromium plays an incoming call's stream with the official ``@flashphoner/websdk``
Player example page, unchanged (issue 12): the server registers as 1003 at Kamailio, baresip
1001 dials 1003 with a tone and H.264 video, and the stream ``toStream`` names is played and
decoded in the browser, as for an outgoing call (test_playback_chromium.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ports import free_port
from tests.integration.conftest import WcsFactory
from tests.integration.inbound_helpers import (
    Backend,
    incoming_call,
    published,
    register,
)
from tests.integration.test_playback_chromium import (  # noqa: F401 (fixtures)
    PLAYER,
    npm_dir,
    run_player,
    sdk_site,
)

pytestmark = pytest.mark.peers


def test_websdk_player_plays_an_incoming_call(
    kamailio: Any,
    caller: Any,
    wcs: WcsFactory,
    backend: Backend,
    chromium: Any,
    npm_dir: Path,  # noqa: F811
    sdk_site: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    ws_port = free_port()
    server = wcs(rest_hooks=f"testApp={backend.url}", ws_port=ws_port)
    register(server, kamailio, toStream="door-{caller}")
    result = caller(user="1001", tone_hz=1000).call_in_background("1003", hold_s=60)
    cid = incoming_call(server)["callId"]
    backend.wait_status(cid, "ESTABLISHED")
    published(server, "door-1001")
    page = f"{sdk_site}/{PLAYER}?streamName=door-1001"
    played = run_player(npm_dir, chromium, page, f"ws://127.0.0.1:{ws_port}", tmp_path / "udd")
    print("WebSDK player, incoming call:", json.dumps(played))
    assert played["ok"], played
    first, second = played["first"], played["second"]
    assert second["framesDecoded"] > first["framesDecoded"] > 0
    assert second["totalSamplesReceived"] > first["totalSamplesReceived"] > 0
    assert (second["frameWidth"], second["frameHeight"]) == (352, 288)
    assert second["videoCodec"] == "video/H264"
    assert played["statuses"] == ["PLAYING", "STOPPED"]
    # the viewer left; the call goes on until we end it
    assert server.rest("call/terminate", {"callId": cid}) == (200, None)
    assert result.result(30).established
    backend.wait_status(cid, "FINISH")
