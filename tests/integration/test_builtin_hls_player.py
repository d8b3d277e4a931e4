"""The built-in page plays a live call's stream over HLS / LL-HLS with its own minimal MSE
player (wcs/web/static/hls_player.js: no hls.js, nothing from a CDN) beside the WebRTC
player, in headless Chromium; both show their measured latency.

HLS latency: wall clock minus the EXT-X-PROGRAM-DATE-TIME (the server's receive clock) of
the picture on screen; browser and server share the clock here. WebRTC: half the round
trip + jitter buffer + decode. Figures are printed, not thresholds: the assertions are that
the pictures move, the latencies are measured and shown, and LL-HLS is used when asked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ports import free_port
from tests.integration.conftest import HookCollector, WcsFactory
from tests.integration.playback import start_call
from tests.integration.test_playback_chromium import (
    npm_dir,  # noqa: F401 (fixture)
    run_driver,
)

pytestmark = pytest.mark.peers

DRIVER = Path(__file__).with_name("builtin_hls.cjs")


@pytest.mark.parametrize("llhls", [True, False], ids=["llhls", "hls"])
def test_builtin_page_plays_hls_beside_webrtc_with_latency(
    llhls: bool,
    kamailio: Any,
    callee: Any,
    wcs: WcsFactory,
    hooks: HookCollector,
    chromium: Any,
    npm_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    server = wcs(rest_hooks=f"testApp={hooks.url}", hls_port=free_port())
    name = start_call(server, hooks, kamailio, callee(tone_hz=1000))
    page = f"{server.base}/?streamName={name}"
    result = run_driver(DRIVER, npm_dir, chromium, tmp_path / "udd", "6",
                        before=(page, "1" if llhls else "0"))  # fmt: skip
    samples = result["samples"]
    print("built-in page:", json.dumps({k: v for k, v in result.items() if k != "samples"}))
    print("latency (hls, webrtc):", [(s["hlsLatency"], s["webrtcLatency"]) for s in samples])
    assert result["ok"], result
    assert [c for c in result["console"] if "pageerror" in c] == []
    first, last = samples[0], samples[-1]
    assert last["hlsStatus"] == "PLAYING" and last["lowLatency"] is llhls
    assert last["hls"]["currentTime"] > first["hls"]["currentTime"] > 0  # the picture moves
    assert last["hls"]["frames"] > first["hls"]["frames"] > 0
    assert (last["hls"]["width"], last["hls"]["height"]) == (352, 288)
    assert last["webrtc"]["frames"] > first["webrtc"]["frames"] > 0
    assert last["hlsLatency"] > 0 and last["webrtcLatency"] > 0
    assert last["shown"][0].endswith(" s") and last["shown"][1].endswith(" s")
