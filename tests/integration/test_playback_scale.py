"""Many viewers, a late joiner, and a viewer that vanishes: aiortc viewers of a baresip call."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.fixtures.ports import free_port
from tests.integration.conftest import HookCollector, WcsFactory
from tests.integration.playback import (
    TONE_HZ,
    Viewer,
    http,
    start_call,
    stream_entries,
    ws_play,
)
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback  # noqa: F401
from tests.integration.wcs_ws_client import WcsClient

pytestmark = [pytest.mark.peers, pytest.mark.asyncio, pytest.mark.usefixtures("aiortc_on_loopback")]

VIEWERS = 20
LATE_S = 12.0  # the callee's natural keyframes come every 10 s: join mid-GOP
NEXT_NATURAL_KEYFRAME_S = 19.5


async def whep_play(base: str, name: str, viewer: Viewer) -> str:
    offer = await viewer.offer()
    status, headers, body = await asyncio.to_thread(
        http, "POST", f"{base}/whep/{name}", offer.encode(), {"Content-Type": "application/sdp"}
    )
    assert status == 201, body
    await viewer.answer(body.decode())
    return headers["location"]


async def test_twenty_late_viewers_all_decode_from_the_cached_keyframe(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    peer = callee(tone_hz=TONE_HZ)
    server = wcs(rest_hooks=f"testApp={hooks.url}")
    name = start_call(server, hooks, kamailio, peer)
    established = time.monotonic()
    await asyncio.sleep(max(0.0, established + LATE_S - time.monotonic()))
    viewers = [Viewer() for _ in range(VIEWERS)]
    try:
        t0 = time.monotonic()
        locations = await asyncio.gather(*(whep_play(server.base, name, v) for v in viewers))
        await asyncio.gather(*(v.wait(frames=30, audio_s=1.0, timeout=60) for v in viewers))
        firsts = sorted((v.first_frame_at or 0) - t0 for v in viewers)
        print(
            f"{VIEWERS} viewers, joined {LATE_S:.0f} s into the call: first frame after "
            f"{firsts[0]:.2f}-{firsts[-1]:.2f} s; media ahead of wall clock "
            f"{min(v.media_ahead_s() for v in viewers):.2f} s"
        )
        for v in viewers:
            assert v.sizes == {(352, 288)}
            # Decoding began before the callee's next natural keyframe (20 s into the call):
            # from the stream's cached keyframe or one asked for upstream (PLI) on connect.
            assert v.first_frame_at is not None
            assert v.first_frame_at - established < NEXT_NATURAL_KEYFRAME_S
        entries = await asyncio.to_thread(stream_entries, server)
        mine = [e for e in entries if e["name"] == name and e["published"] is False]
        assert len(mine) == VIEWERS and {e["status"] for e in mine} == {"PLAYING"}
        hz = viewers[0].dominant_hz()
        assert abs(hz - TONE_HZ) <= 0.02 * TONE_HZ, hz
        for loc in locations:
            assert (await asyncio.to_thread(http, "DELETE", server.base + loc))[0] == 200
        entries = await asyncio.to_thread(stream_entries, server)
        assert [e["published"] for e in entries if e["name"] == name] == [True]
    finally:
        await asyncio.gather(*(v.close() for v in viewers))


async def test_vanished_viewer_is_dropped_after_consent_expiry(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    peer = callee(tone_hz=TONE_HZ)
    ws_port = free_port()
    server = wcs(rest_hooks=f"testApp={hooks.url}", ws_port=ws_port, webrtc_consent_timeout=3)
    name = start_call(server, hooks, kamailio, peer)
    clients = [WcsClient("127.0.0.1", ws_port) for _ in range(2)]
    viewers = [Viewer(), Viewer()]
    try:
        msids = []
        for client, viewer in zip(clients, viewers, strict=True):
            await client.connect()
            client.send("connection", {"appKey": "defaultApp"})
            await client.recv("getUserData")
            msids.append(await ws_play(client, name, viewer))
        await asyncio.gather(*(v.wait(frames=10, audio_s=0.5) for v in viewers))
        gone, stays = viewers
        gone.vanish()
        failed = await clients[0].recv("notifyStreamStatusEvent", timeout=30)
        assert failed["data"][0]["mediaSessionId"] == msids[0]
        assert failed["data"][0]["status"] == "FAILED"
        assert failed["data"][0]["info"] == "Failed by ICE keep alive"
        entries = await asyncio.to_thread(stream_entries, server)
        assert [e["mediaSessionId"] for e in entries if e["published"] is False] == [msids[1]]
        # The other viewer plays on.
        before = stays.video_frames
        await stays.wait(frames=before + 15, audio_s=0)
        assert stays.pc.connectionState == "connected"
        # Closing a WebSocket stops its viewers.
        await clients[1].close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            entries = await asyncio.to_thread(stream_entries, server)
            if not [e for e in entries if e["published"] is False]:
                break
            await asyncio.sleep(0.1)
        assert [e["published"] for e in entries] == [True]
    finally:
        for v in viewers:
            await v.close()
        for c in clients:
            await c.close()
