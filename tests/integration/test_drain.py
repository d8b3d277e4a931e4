"""Graceful drain (setting ``drain_timeout``): SIGTERM stops new calls and viewers, the node
waits for its calls, then exits; a second SIGTERM would cut it short."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import urllib.request

import pytest

from tests.integration.cluster_helpers import wait_for
from tests.integration.conftest import WcsFactory
from tests.integration.playback import Viewer, whep_post
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback  # noqa: F401

pytestmark = [pytest.mark.peers, pytest.mark.usefixtures("aiortc_on_loopback")]


def test_sigterm_drains_then_exits_when_the_last_call_ends(wcs: WcsFactory) -> None:
    server = wcs(drain_timeout=60)
    status, _ = server.rest("call/startup", {"callId": "d1", "callee": "demo", "toStream": "d"})
    assert status == 200

    def established() -> bool:
        status, body = server.rest("call/find", {"callId": "d1"})
        return status == 200 and body[0]["status"] == "ESTABLISHED"

    wait_for(established, 15, "call established")
    server.proc.send_signal(signal.SIGTERM)

    def health() -> str:
        with urllib.request.urlopen(f"{server.base}/health", timeout=5) as resp:
            return str(json.loads(resp.read())["status"])

    wait_for(lambda: health() == "draining", 10, "/health draining")
    status, body = server.rest("call/startup", {"callId": "d2", "callee": "demo"})
    assert status == 503 and body["error"] == "node is draining"

    async def play() -> int:
        viewer = Viewer()
        try:
            return (await whep_post(server, "d", viewer))[0]
        finally:
            await viewer.close()

    assert asyncio.run(play()) == 503
    assert established() and server.proc.poll() is None  # the call goes on
    status, _ = server.rest("call/terminate", {"callId": "d1"})
    assert status == 200
    try:
        assert server.proc.wait(20) == 0
    except subprocess.TimeoutExpired:
        raise AssertionError(f"did not exit after its last call:\n{server.log()}") from None
    assert "drained: 0 calls left" in server.log()
