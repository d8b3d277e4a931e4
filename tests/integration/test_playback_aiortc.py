"""A baresip call's stream played by aiortc (an independent WebRTC stack) through WHEP and
through the WCS WebSocket protocol: video decodes at the callee's 352x288, audio decodes to
the callee's tone."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from tests.fixtures.ports import free_port
from tests.integration.conftest import HookCollector, WcsFactory
from tests.integration.playback import TONE_HZ, Viewer, http, start_call, stream_entries, ws_play
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback  # noqa: F401
from tests.integration.wcs_ws_client import WcsClient

pytestmark = [pytest.mark.peers, pytest.mark.asyncio, pytest.mark.usefixtures("aiortc_on_loopback")]


@pytest.fixture(params=[0, 2], ids=["in-process", "workers2"])
def webrtc_workers(request: pytest.FixtureRequest) -> int:
    """Every test here runs with viewers in-process and with two media worker processes."""
    return int(request.param)


def viewers_of(entries: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["name"] == name and e["published"] is False]


async def test_whep_plays_call_stream(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    peer = callee(tone_hz=TONE_HZ)
    server = wcs(rest_hooks=f"testApp={hooks.url}")
    name = start_call(server, hooks, kamailio, peer)
    viewer = Viewer()
    try:
        offer = await viewer.offer()
        t0 = time.monotonic()
        status, headers, body = await asyncio.to_thread(
            http,
            "POST",
            f"{server.base}/whep/{name}",
            offer.encode(),
            {"Content-Type": "application/sdp"},
        )
        assert status == 201, body
        assert headers["content-type"].startswith("application/sdp")
        assert headers["access-control-expose-headers"] == "Location, ETag"
        assert headers["etag"].startswith('"')  # names the ICE session (PATCH If-Match)
        location = headers["location"]
        assert location.startswith(f"/whep/{name}/")
        answer = body.decode()
        assert "a=candidate:" in answer and "a=sendonly" in answer
        await viewer.answer(answer)
        await viewer.wait()
        assert viewer.first_frame_at is not None
        print(f"WHEP: POST to first decoded frame {viewer.first_frame_at - t0:.2f} s")
        assert viewer.sizes == {(352, 288)}
        hz = viewer.dominant_hz()
        assert abs(hz - TONE_HZ) <= 0.02 * TONE_HZ, hz
        # The viewer is a published:false PLAYING entry while it plays.
        entries = await asyncio.to_thread(stream_entries, server)
        mine = viewers_of(entries, name)
        assert len(mine) == 1 and mine[0]["status"] == "PLAYING"
        assert mine[0]["mediaSessionId"] == location.rsplit("/", 1)[1]
        status, _, _ = await asyncio.to_thread(http, "DELETE", server.base + location)
        assert status == 200
        entries = await asyncio.to_thread(stream_entries, server)
        assert viewers_of(entries, name) == []
        status, _, _ = await asyncio.to_thread(http, "DELETE", server.base + location)
        assert status == 404
    finally:
        await viewer.close()
    # An unknown stream is 404.
    other = Viewer()
    try:
        offer = await other.offer()
        status, _, _ = await asyncio.to_thread(
            http,
            "POST",
            f"{server.base}/whep/nosuchstream",
            offer.encode(),
            {"Content-Type": "application/sdp"},
        )
        assert status == 404
    finally:
        await other.close()


async def test_ws_protocol_plays_call_stream_until_hangup(
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
        client.send(
            "connection",
            {"appKey": "defaultApp", "mediaProviders": ["WebRTC"], "clientVersion": "2.0"},
        )
        user = await client.recv("getUserData")
        assert user["data"][0]["status"] == "ESTABLISHED"
        # availableStream answers with strings.
        client.send("availableStream", {"mediaSessionId": "q1", "name": name})
        avail = await client.recv("availableStream")
        assert avail["data"][0]["status"] == "true"
        client.send("availableStream", {"mediaSessionId": "q2", "name": "nosuch"})
        avail = await client.recv("availableStream")
        assert avail["data"][0]["status"] == "false"
        # Unknown stream: FAILED "Stream not found" at once.
        client.send(
            "playStream",
            {
                "mediaSessionId": "bad1",
                "name": "nosuch",
                "sdp": "v=0\r\n",
                "mediaProvider": "WebRTC",
                "published": False,
            },
        )
        failed = await client.recv("notifyStreamStatusEvent")
        assert failed["data"][0]["status"] == "FAILED"
        assert failed["data"][0]["info"] == "Stream not found"

        msid = str(uuid.uuid1())
        offer = await viewer.offer()
        t0 = time.monotonic()
        client.send(
            "playStream",
            {
                "mediaSessionId": msid,
                "name": name,
                "published": False,
                "hasVideo": True,
                "hasAudio": True,
                "status": "PENDING",
                "record": False,
                "width": 0,
                "height": 0,
                "mediaProvider": "WebRTC",
                "sdp": offer,
            },
        )
        remote = await client.recv("setRemoteSDP")
        assert remote["data"][0] == msid
        await viewer.answer(remote["data"][1])
        playing = await client.recv("notifyStreamStatusEvent")
        assert playing["data"][0]["mediaSessionId"] == msid
        assert playing["data"][0]["status"] == "PLAYING"
        await viewer.wait()
        assert viewer.first_frame_at is not None
        print(f"WS: playStream to first decoded frame {viewer.first_frame_at - t0:.2f} s")
        assert viewer.sizes == {(352, 288)}
        hz = viewer.dominant_hz()
        assert abs(hz - TONE_HZ) <= 0.02 * TONE_HZ, hz
        entries = await asyncio.to_thread(stream_entries, server)
        assert [e["mediaSessionId"] for e in viewers_of(entries, name)] == [msid]
        # The callee hangs up: the viewer gets STOPPED "Stopped by publisher stop".
        await asyncio.to_thread(peer.hangup)
        stopped = await client.recv("notifyStreamStatusEvent")
        assert stopped["data"][0]["mediaSessionId"] == msid
        assert stopped["data"][0]["status"] == "STOPPED"
        assert stopped["data"][0]["info"] == "Stopped by publisher stop"
        entries = await asyncio.to_thread(stream_entries, server)
        assert viewers_of(entries, name) == []
        # Every server frame carried a data array.
        assert all(isinstance(f["data"], list) for f in client.all)
    finally:
        await viewer.close()
        await client.close()


async def test_ws_stop_stream_gives_stopped(
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
        client.send("connection", {"appKey": "defaultApp"})
        await client.recv("getUserData")
        msid = await ws_play(client, name, viewer)
        await viewer.wait(frames=5, audio_s=0.2)
        client.send("stopStream", {"mediaSessionId": msid, "name": name, "status": "PLAYING"})
        stopped = await client.recv("notifyStreamStatusEvent")
        assert (stopped["data"][0]["status"], stopped["data"][0]["info"]) == (
            "STOPPED",
            "Stopped by user",
        )
        entries = await asyncio.to_thread(stream_entries, server)
        assert viewers_of(entries, name) == []
        # The call goes on.
        assert any(e["name"] == name and e["published"] for e in entries)
    finally:
        await viewer.close()
        await client.close()


async def test_opus_only_viewer_gets_the_tone_transcoded(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    """A player without G.711: the stream's audio reaches it as Opus, transcoded once."""
    peer = callee(tone_hz=TONE_HZ)
    server = wcs(rest_hooks=f"testApp={hooks.url}")
    name = start_call(server, hooks, kamailio, peer)
    viewers = [Viewer(), Viewer()]
    try:
        for viewer in viewers:
            offer = await viewer.offer(audio_codecs=["opus"])
            assert "PCMU" not in offer and "PCMA" not in offer
            status, _, body = await asyncio.to_thread(
                http,
                "POST",
                f"{server.base}/whep/{name}",
                offer.encode(),
                {"Content-Type": "application/sdp"},
            )
            assert status == 201, body
            assert "opus/48000" in body.decode()
            await viewer.answer(body.decode())
        await asyncio.gather(*(v.wait(frames=10, audio_s=1.5) for v in viewers))
        for viewer in viewers:
            assert viewer.audio_rate == 48000
            hz = viewer.dominant_hz()
            assert abs(hz - TONE_HZ) <= 0.02 * TONE_HZ, hz
            assert viewer.sizes == {(352, 288)}
    finally:
        for viewer in viewers:
            await viewer.close()
