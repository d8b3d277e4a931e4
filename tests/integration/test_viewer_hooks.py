"""A WebRTC player's stream statuses reach the application backend as StreamStatusEvent REST
hooks: an aiortc viewer over the WCS WebSocket protocol plays a baresip call's stream, and the
hook collector (the backend of the session's appKey) receives PLAYING, then STOPPED, for its
mediaSessionId, each once, with the viewer's /stream/find_all entry; a play of an unknown
stream is one FAILED "Stream not found" hook."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from tests.fixtures.ports import free_port
from tests.integration.conftest import PASSWORD_1001, HookCollector, WcsFactory
from tests.integration.playback import TONE_HZ, Viewer, start_call, stream_entries, ws_play
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback  # noqa: F401
from tests.integration.wcs_ws_client import WcsClient

pytestmark = [pytest.mark.asyncio, pytest.mark.peers, pytest.mark.usefixtures("aiortc_on_loopback")]


def player_hooks(hooks: HookCollector, msid: str) -> list[dict[str, Any]]:
    with hooks.lock:
        return [
            e
            for m, e in hooks.events
            if m == "StreamStatusEvent" and e.get("mediaSessionId") == msid
        ]


async def wait_hooks(hooks: HookCollector, msid: str, count: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while len(player_hooks(hooks, msid)) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # and nothing more comes


async def test_ws_player_statuses_are_stream_status_hooks(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    peer = callee(tone_hz=TONE_HZ)
    ws_port = free_port()
    server = wcs(rest_hooks=f"testApp={hooks.url}", ws_port=ws_port)
    name = start_call(server, hooks, kamailio, peer)
    client = WcsClient("127.0.0.1", ws_port)
    viewer = Viewer()
    try:
        await client.connect()
        # The player's appKey is its session's: the connection message's.
        client.send("connection", {"appKey": "testApp", "mediaProviders": ["WebRTC"]})
        await client.recv("getUserData")
        msid = await ws_play(client, name, viewer)
        await viewer.wait(frames=10, audio_s=0.5)
        entries = await asyncio.to_thread(stream_entries, server)
        [entry] = [e for e in entries if e["mediaSessionId"] == msid]
        client.send("stopStream", {"mediaSessionId": msid, "name": name})
        stopped = await client.recv("notifyStreamStatusEvent")
        assert stopped["data"][0]["status"] == "STOPPED"
        await wait_hooks(hooks, msid, 2)
        got = player_hooks(hooks, msid)
        assert [(e["status"], e["info"]) for e in got] == [
            ("PLAYING", None),
            ("STOPPED", "Stopped by user"),
        ]
        for e in got:
            # The viewer's /stream/find_all entry: same fields, a player's values.
            assert set(e) == set(entry)
            assert (e["name"], e["published"], e["appKey"], e["mediaProvider"]) == (
                name,
                False,
                "testApp",
                "WebRTC",
            )
            assert e["sessionId"] == entry["sessionId"]
            assert e["hasVideo"] is True and e["hasAudio"] is True
        print(f"\nviewer hooks: {[(e['status'], e['info']) for e in got]}")

        # An unknown stream: one FAILED "Stream not found" hook for that play.
        bad = str(uuid.uuid1())
        client.send(
            "playStream",
            {"mediaSessionId": bad, "name": "nosuch", "mediaProvider": "WebRTC", "sdp": "v=0\r\n"},
        )
        failed = await client.recv("notifyStreamStatusEvent")
        assert failed["data"][0]["status"] == "FAILED"
        await wait_hooks(hooks, bad, 1)
        [hook] = player_hooks(hooks, bad)
        assert (hook["status"], hook["info"], hook["name"]) == (
            "FAILED",
            "Stream not found",
            "nosuch",
        )
        assert set(hook) == set(entry) and hook["appKey"] == "testApp"
        # Secrets of the call never ride along.
        assert PASSWORD_1001 not in hooks.raw()
    finally:
        await viewer.close()
        await client.close()
