"""Headless Chromium plays a baresip call's stream through the official ``@flashphoner/websdk``
Player example page, unchanged, pointed at our ``ws_port``.

The SDK (and playwright-core, which drives Debian's Chromium) is installed from npm into a
temp dir inside the test run; it is never committed. No npm: the test fails.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ports import free_port
from tests.integration.conftest import HookCollector, WcsFactory
from tests.integration.playback import start_call, stream_entries
from tests.peers.chromium import HEADLESS_FLAGS

pytestmark = pytest.mark.peers

DRIVER = Path(__file__).with_name("websdk_player.cjs")
PLAYER = "examples/demo/streaming/player/player.html"


@pytest.fixture(scope="session")
def npm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``@flashphoner/websdk`` and ``playwright-core`` from npm, in a temp dir."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: the WebSDK test needs it")
    path = tmp_path_factory.mktemp("npm")
    proc = subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(path),
            "@flashphoner/websdk",
            "playwright-core",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        pytest.fail(f"npm install failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    sdk = path / "node_modules" / "@flashphoner" / "websdk"
    assert (sdk / PLAYER).is_file(), "the WebSDK package has no player example"
    return path


@pytest.fixture
def sdk_site(npm_dir: Path) -> Iterator[str]:
    """The WebSDK package served over HTTP on loopback (the page loads its scripts by path)."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    root = npm_dir / "node_modules" / "@flashphoner" / "websdk"
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def run_driver(driver: Path, npm_dir: Path, chromium: Any, udd: Path, *args: str,
               before: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    """Run a node driver (``driver BEFORE… USER_DATA_DIR CHROMIUM FLAGS_JSON ARGS…``) and
    return its ``RESULT {json}`` line."""
    node = shutil.which("node")
    assert node, "node is not installed"
    flags = [f for f in HEADLESS_FLAGS if f != "--headless"]
    proc = subprocess.run(
        [node, str(driver), *before, str(udd), chromium.path, json.dumps(flags), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"NODE_PATH": str(npm_dir / "node_modules"), "PATH": "/usr/bin:/bin", "HOME": str(udd)},
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no result from the driver:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return dict(json.loads(lines[-1][len("RESULT ") :]))


def run_player(
    npm_dir: Path,
    chromium: Any,
    page_url: str,
    ws_url: str,
    udd: Path,
    seconds: float = 3,
    driver: Path = DRIVER,
) -> dict[str, Any]:
    return run_driver(driver, npm_dir, chromium, udd, str(seconds), before=(page_url, ws_url))


@pytest.mark.parametrize("webrtc_workers", [0, 2], ids=["in-process", "workers2"])
def test_websdk_player_page_plays_and_stops(
    webrtc_workers: int,
    kamailio: Any,
    callee: Any,
    wcs: WcsFactory,
    hooks: HookCollector,
    chromium: Any,
    npm_dir: Path,
    sdk_site: str,
    tmp_path: Path,
) -> None:
    peer = callee(tone_hz=1000)
    ws_port = free_port()
    server = wcs(rest_hooks=f"testApp={hooks.url}", ws_port=ws_port)
    name = start_call(server, hooks, kamailio, peer)
    page = f"{sdk_site}/{PLAYER}?streamName={name}"
    result = run_player(npm_dir, chromium, page, f"ws://127.0.0.1:{ws_port}", tmp_path / "udd")
    print("WebSDK player:", json.dumps(result))
    assert result["ok"], result
    first, second = result["first"], result["second"]
    assert first["framesDecoded"] > 0
    assert second["framesDecoded"] > first["framesDecoded"]
    assert second["totalSamplesReceived"] > first["totalSamplesReceived"] > 0
    assert (second["frameWidth"], second["frameHeight"]) == (352, 288)
    assert second["videoCodec"] == "video/H264"
    assert result["statuses"] == ["PLAYING", "STOPPED"]
    # The viewer is gone from /stream/find_all once stopped; the call goes on.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        entries = stream_entries(server)
        if not [e for e in entries if e["name"] == name and e["published"] is False]:
            break
        time.sleep(0.1)
    assert [e["status"] for e in entries if e["name"] == name] == ["PUBLISHING"]


BUILTIN = Path(__file__).with_name("builtin_page.cjs")


def test_builtin_page_starts_plays_takes_part_and_hangs_up(
    kamailio: Any,
    callee: Any,
    wcs: WcsFactory,
    hooks: HookCollector,
    chromium: Any,
    npm_dir: Path,
    tmp_path: Path,
) -> None:
    from tests.integration.test_calls_real_peers import call_body, new_id

    peer = callee(tone_hz=1000)
    server = wcs(rest_hooks=f"testApp={hooks.url}")
    cid = new_id()
    form = {
        k: v
        for k, v in call_body(kamailio, cid, peer.user).items()
        if k
        in (
            "callId",
            "callee",
            "toStream",
            "sipLogin",
            "sipAuthenticationName",
            "sipPassword",
            "sipDomain",
            "sipOutboundProxy",
            "sipPort",
            "appKey",
        )
    }
    shot = tmp_path / "builtin-page.png"
    from tests.integration.test_dtmf_sound_core import KeyListener

    keys = KeyListener(kamailio.host, peer.ports.ctrl)  # what baresip gets from the keypad
    node = shutil.which("node")
    assert node, "node is not installed"
    flags = [f for f in HEADLESS_FLAGS if f != "--headless"]
    proc = subprocess.run(
        [
            node,
            str(BUILTIN),
            server.base + "/",
            json.dumps(form),
            str(tmp_path / "udd"),
            chromium.path,
            json.dumps(flags),
            str(shot),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "NODE_PATH": str(npm_dir / "node_modules"),
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
        },
    )
    keys.close()
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no result:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    result = json.loads(lines[-1][len("RESULT ") :])
    print("built-in page:", json.dumps(result), "screenshot:", shot)
    assert result["ok"], result
    assert keys.keys == ["5"]  # the keypad's key, once
    assert "HOLD" in result["heldRow"]
    assert [e["info"] for e in hooks.of(cid) if e["info"] in ("Hold", "Unhold")] == [
        "Hold", "Unhold"]  # fmt: skip
    assert result["second"]["framesDecoded"] > result["first"]["framesDecoded"] > 0
    assert result["second"]["totalSamplesReceived"] > result["first"]["totalSamplesReceived"]
    assert (result["second"]["frameWidth"], result["second"]["frameHeight"]) == (352, 288)
    assert "PLAYING" in result["streamsTable"]  # our viewer, listed as a PLAYING entry
    assert shot.stat().st_size > 10000
    # The hang-up reached the callee: the call ends and its stream and viewer are gone.
    hooks.wait_status(cid, "FINISH")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and stream_entries(server):
        time.sleep(0.1)
    assert stream_entries(server) == []
    keep = os.environ.get("WCS_TEST_SCREENSHOT")  # where to keep it for an issue note
    if keep:
        shutil.copy(shot, keep)


SIP_PAGE = "examples/demo/sip/sip-as-rtmp-4/sip-as-rtmp-4.html"
SIP_DRIVER = Path(__file__).with_name("websdk_sip_page.cjs")


def test_websdk_sip_as_rtmp_4_dtmf_button(
    kamailio: Any,
    callee: Any,
    wcs: WcsFactory,
    hooks: HookCollector,
    chromium: Any,
    npm_dir: Path,
    sdk_site: str,
    tmp_path: Path,
) -> None:
    """The official WebSDK page's "Send DTMF" works unchanged: its /call/send_dtmf requests
    get 200 and baresip receives each key once."""
    from tests.integration.conftest import call_body
    from tests.integration.test_dtmf_sound_core import KeyListener

    peer = callee()
    server = wcs(rest_hooks=f"testApp={hooks.url}")
    account = ("sipLogin", "sipAuthenticationName", "sipPassword", "sipDomain",
               "sipOutboundProxy", "sipPort", "appKey", "callee")  # fmt: skip
    body = call_body(kamailio, "unused", peer.user)
    form = {k: body[k] for k in account}
    form.update(restUrl=f"{server.base}/rest-api", rtmpStream="websdk_sip_dtmf")
    node = shutil.which("node")
    assert node, "node is not installed"
    flags = [f for f in HEADLESS_FLAGS if f != "--headless"]
    keys = KeyListener(kamailio.host, peer.ports.ctrl)
    try:
        proc = subprocess.run(
            [node, str(SIP_DRIVER), f"{sdk_site}/{SIP_PAGE}", json.dumps(form), "123#",
             str(tmp_path / "udd"), chromium.path, json.dumps(flags)],
            capture_output=True, text=True, timeout=120,
            env={"NODE_PATH": str(npm_dir / "node_modules"), "PATH": "/usr/bin:/bin",
                 "HOME": str(tmp_path)},
        )  # fmt: skip
    finally:
        keys.close()
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no result:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    result = json.loads(lines[-1][len("RESULT ") :])
    print("sip-as-rtmp-4:", json.dumps(result))
    assert result["ok"], result
    assert [r["status"] for r in result["dtmf"]] == [200], result
    assert json.loads(result["dtmf"][0]["body"])["type"] == "RFC2833"
    assert "".join(keys.keys) == "123#"
