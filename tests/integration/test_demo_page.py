"""Must-show of issue 7: ``make run`` on the checkout (default settings: the demo callee is
on), then the built-in page in headless Chromium starts a call to ``demo`` and plays the
resulting stream (playwright-core drives the system Chromium; the screenshot is what
docs/demo.png shows; WCS_DEMO_SCREENSHOT=path copies it out)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.ports import free_port, free_port_range
from tests.peers.chromium import HEADLESS_FLAGS, Chromium

pytestmark = pytest.mark.peers

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[str]:
    """``make run`` with free ports; yields the base URL; stops the process group."""
    http_port = free_port()
    media = free_port_range(40)
    env = dict(os.environ)
    env.update(
        WCS_HTTP_PORT=str(http_port), WCS_WS_PORT=str(free_port()),
        WCS_HLS_PORT=str(free_port()), WCS_RTSP_PORT=str(free_port()),
        WCS_SIP_PORT=str(free_port()), WCS_MEDIA_PORT_FROM=str(media),
        WCS_MEDIA_PORT_TO=str(media + 39), WCS_BIND_IP="127.0.0.1", WCS_PUBLIC_IP="127.0.0.1",
    )  # fmt: skip
    env.pop("WCS_DEMO_CALLEE", None)  # the default is what is shown
    log_path = tmp_path / "make-run.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 300  # a first run creates the venv
        while True:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            try:
                with urllib.request.urlopen(base + "/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def node_path() -> str:
    """Where playwright-core is installed: $WCS_NODE_PATH, or the test bed's npm folders."""
    candidates = [
        os.environ.get("WCS_NODE_PATH", ""),
        str(ROOT / "tests" / "peers" / ".npm" / "node_modules"),
        "/tmp/media-peers-npm/node_modules",
        "/tmp/ops-npm/node_modules",
    ]
    for c in candidates:
        if c and (Path(c) / "playwright-core").is_dir():
            return c
    pytest.fail("playwright-core not found: npm install playwright-core, set WCS_NODE_PATH")


def test_make_run_page_plays_the_demo_call(
    make_run: str, chromium: Chromium, tmp_path: Path
) -> None:
    node = shutil.which("node")
    assert node, "node is needed to drive Chromium with playwright-core"
    png = tmp_path / "demo.png"
    env = dict(os.environ)
    env.update(
        NODE_PATH=node_path(),
        CHROMIUM=chromium.path,
        CHROMIUM_FLAGS_JSON=json.dumps([f for f in HEADLESS_FLAGS if f != "--headless"]),
    )
    proc = subprocess.run(
        [node, str(HERE / "demo_page.cjs"), make_run, str(tmp_path / "profile"), str(png)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    line = next((x for x in proc.stdout.splitlines() if x.startswith("DEMO_RESULT ")), None)
    log = (tmp_path / "make-run.log").read_text(errors="replace")[-3000:]
    assert line, proc.stdout + proc.stderr + log
    result = json.loads(line.split(" ", 1)[1])
    assert result["ok"], (result, proc.stderr, log)
    assert (result["width"], result["height"]) == (640, 360)
    assert result["framesDecoded"] >= 15
    assert result["audioPackets"] > 0
    assert png.stat().st_size > 10_000
    # While it played, /metrics counted the viewer and what was sent to it.
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(result["metrics"])
        for s in family.samples
    }
    assert samples[("wcs_viewers", (("status", "PLAYING"),))] == 1
    assert samples[("wcs_rtp_sent_packets_total", (("kind", "video"),))] > 0
    assert samples[("wcs_demo_calls_total", ())] == 1
    if os.environ.get("WCS_DEMO_SCREENSHOT"):
        shutil.copy(png, os.environ["WCS_DEMO_SCREENSHOT"])
