"""Headless Chromium plays a live call's stream through the official ``@flashphoner/websdk``
hls-js-player example page, unchanged (hls.js over MSE), normal and ``?llhls=true``: the
user's steps (server URL, stream name, Play), then the page's <video> must advance and
decode frames. The latency to live is measured on the picture the page's <video> shows
against the stream's clock (now minus its EXT-X-PROGRAM-DATE-TIME, mapped by hls.js) and
printed with hls.js's own estimate; it is a figure (median, range), not a pass mark.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ports import free_port
from tests.integration.conftest import HookCollector, WcsFactory
from tests.integration.playback import start_call
from tests.integration.test_playback_chromium import (  # noqa: F401 (fixtures)
    npm_dir,
    run_driver,
    sdk_site,
)

pytestmark = pytest.mark.peers

DRIVER = Path(__file__).with_name("hls_player.cjs")
PAGE = "examples/demo/streaming/hls-js-player/hls-js-player.html"


def run_page(npm: Path, chromium: Any, page: str, server: str, stream: str, udd: Path) -> dict:
    return run_driver(DRIVER, npm, chromium, udd, "6", before=(page, server, stream))


@pytest.mark.parametrize("llhls", [False, True], ids=["hls", "llhls"])
def test_websdk_hls_js_player_plays_a_live_call(
    llhls: bool,
    kamailio: Any,
    callee: Any,
    wcs: WcsFactory,
    hooks: HookCollector,
    chromium: Any,
    npm_dir: Path,  # noqa: F811
    sdk_site: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    hls_port = free_port()
    server = wcs(rest_hooks=f"testApp={hooks.url}", hls_port=hls_port)
    name = start_call(server, hooks, kamailio, callee(tone_hz=1000))
    page = f"{sdk_site}/{PAGE}" + ("?llhls=true" if llhls else "")
    result = run_page(
        npm_dir, chromium, page, f"http://127.0.0.1:{hls_port}", name, tmp_path / "udd"
    )
    print("hls-js-player:", json.dumps({k: v for k, v in result.items() if k != "samples"}))
    print("samples:", json.dumps(result["samples"]))
    assert result["ok"], result
    assert result["fullLink"] == f"http://127.0.0.1:{hls_port}/{name}/{name}.m3u8"
    samples = result["samples"]
    first, last = samples[0], samples[-1]
    assert last["currentTime"] > first["currentTime"] > 0  # the picture moves
    assert last["frames"] > first["frames"] > 0
    assert (last["width"], last["height"]) == (352, 288)
    assert last["lowLatency"] is llhls
    assert last["latency"] is not None and last["latency"] > 0
    # Every sample maps the picture to the stream's clock, and the picture is in the past
    # (a program date-time ahead of the wall clock would make it negative).
    # (hls.js has no mapping for a moment around some playlist reloads: those samples skip.)
    to_live = sorted(v for s in samples if (v := s["toLiveMs"]) is not None)
    assert len(to_live) * 2 >= len(samples) and to_live[0] > 0, samples
    mid = to_live[len(to_live) // 2]
    print(f"{'LL-HLS' if llhls else 'HLS'} latency to live: median {mid} ms "
          f"({to_live[0]}-{to_live[-1]} ms) over {len(to_live)} samples")  # fmt: skip
