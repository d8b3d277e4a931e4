"""Must-show of issue 7: a server with the default settings, the built-in page in headless
Chromium starts a call to ``demo`` and plays the resulting stream (playwright-core drives
the system Chromium; the screenshot is what docs/demo.png shows)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import WcsFactory
from tests.peers.chromium import HEADLESS_FLAGS, Chromium

pytestmark = pytest.mark.peers

HERE = Path(__file__).resolve().parent


def node_path() -> str:
    """Where playwright-core is installed: $WCS_NODE_PATH, or the test bed's npm folders."""
    candidates = [os.environ.get("WCS_NODE_PATH", ""), "/tmp/media-peers-npm/node_modules",
                  "/tmp/ops-npm/node_modules"]  # fmt: skip
    for c in candidates:
        if c and (Path(c) / "playwright-core").is_dir():
            return c
    pytest.fail("playwright-core not found: npm install playwright-core, set WCS_NODE_PATH")


def test_builtin_page_plays_the_demo_call(
    wcs: WcsFactory, chromium: Chromium, tmp_path: Path
) -> None:
    node = shutil.which("node")
    assert node, "node is needed to drive Chromium with playwright-core"
    server = wcs()  # default settings: the demo callee is on
    png = tmp_path / "demo.png"
    env = dict(os.environ)
    env.update(
        NODE_PATH=node_path(),
        CHROMIUM=chromium.path,
        CHROMIUM_FLAGS_JSON=json.dumps([f for f in HEADLESS_FLAGS if f != "--headless"]),
    )
    proc = subprocess.run(
        [node, str(HERE / "demo_page.cjs"), server.base, str(tmp_path / "profile"), str(png)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    line = next((x for x in proc.stdout.splitlines() if x.startswith("DEMO_RESULT ")), None)
    assert line, proc.stdout + proc.stderr + server.log()[-3000:]
    result = json.loads(line.split(" ", 1)[1])
    assert result["ok"], (result, proc.stderr, server.log()[-3000:])
    assert (result["width"], result["height"]) == (640, 360)
    assert result["framesDecoded"] >= 15
    assert result["audioPackets"] > 0
    assert png.stat().st_size > 10_000
    if os.environ.get("WCS_DEMO_SCREENSHOT"):
        shutil.copy(png, os.environ["WCS_DEMO_SCREENSHOT"])
