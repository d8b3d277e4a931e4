"""The asyncio edge of the WCS protocol with a fake WebSocket, the real hub and Playback."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.unit.webrtc.chrome_offer import CHROME_OFFER
from wcs.streams import StreamHub, TrackInfo
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.viewer import Playback
from wcs.webrtc.ws_signaling import SignalingServer

pytestmark = pytest.mark.asyncio

CERT = Certificate.generate()


class FakeWs:
    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.remote = ("127.0.0.1", 5555)
        self.closed = False

    async def receive(self) -> str | None:
        msg = await self.inbox.get()
        if msg is None:
            self.closed = True
        return msg

    async def send_text(self, text: str) -> None:
        await self.sent.put(json.loads(text))

    def push(self, message: str, payload: Any = None) -> None:
        self.inbox.put_nowait(json.dumps({"message": message, "data": [payload]}))

    async def next(self, message: str) -> dict[str, Any]:
        while True:
            frame = await asyncio.wait_for(self.sent.get(), 5)
            assert isinstance(frame["data"], list)
            if frame["message"] == message:
                return frame


def setup(ping: float = 5.0, missed: int = 10) -> tuple[StreamHub, Playback, SignalingServer]:
    hub = StreamHub()
    stream = hub.publish("s1", call_id="c1", app_key="a")
    stream.set_tracks(
        {
            "audio": TrackInfo("audio", "PCMU", 8000),
            "video": TrackInfo(
                "video", "H264", 90000, fmtp="profile-level-id=42e01f;packetization-mode=1"
            ),
        }
    )
    playback = Playback(hub, certificate=CERT, bind_ip="127.0.0.1")
    return hub, playback, SignalingServer(playback, ping_interval=ping, max_missed=missed)


def play(ws: FakeWs, msid: str, name: str = "s1") -> None:
    ws.push(
        "playStream",
        {"mediaSessionId": msid, "name": name, "mediaProvider": "WebRTC", "sdp": CHROME_OFFER},
    )


async def test_play_stop_and_close() -> None:
    hub, playback, server = setup()
    ws = FakeWs()
    task = asyncio.create_task(server.handle(ws))  # type: ignore[arg-type]
    ws.push("connection", {"appKey": "app1"})
    user = await ws.next("getUserData")
    assert user["data"][0]["sessionId"].startswith("/127.0.0.1:5555/")
    play(ws, "m1")
    remote = await ws.next("setRemoteSDP")
    assert remote["data"][0] == "m1" and "a=sendonly" in remote["data"][1]
    playing = await ws.next("notifyStreamStatusEvent")
    assert playing["data"][0]["status"] == "PLAYING" and playing["data"][0]["appKey"] == "app1"
    assert list(playback.viewers) == ["m1"]
    ws.push("stopStream", {"mediaSessionId": "m1"})
    stopped = await ws.next("notifyStreamStatusEvent")
    assert (stopped["data"][0]["status"], stopped["data"][0]["info"]) == (
        "STOPPED",
        "Stopped by user",
    )
    assert playback.viewers == {} and hub.entries == []
    # A second viewer, then the socket closes: the viewer is stopped with it.
    play(ws, "m2")
    await ws.next("notifyStreamStatusEvent")
    assert list(playback.viewers) == ["m2"]
    ws.inbox.put_nowait(None)
    await asyncio.wait_for(task, 5)
    assert playback.viewers == {} and hub.entries == [] and server.sessions == {}


async def test_publisher_stop_reaches_the_session() -> None:
    hub, playback, server = setup()
    ws = FakeWs()
    task = asyncio.create_task(server.handle(ws))  # type: ignore[arg-type]
    ws.push("connection", {})
    await ws.next("getUserData")
    play(ws, "m1")
    await ws.next("notifyStreamStatusEvent")
    assert list(playback.viewers) == ["m1"]  # not connected, so not yet a packet sink
    hub.unpublish("s1", "call ended")
    stopped = await ws.next("notifyStreamStatusEvent")
    assert stopped["data"][0]["info"] == "Stopped by publisher stop"
    assert playback.viewers == {}
    ws.push("availableStream", {"mediaSessionId": "q", "name": "s1"})
    avail = await ws.next("availableStream")
    assert avail["data"][0]["status"] == "false"
    ws.inbox.put_nowait(None)
    await asyncio.wait_for(task, 5)


async def test_unknown_stream_fails_and_stop_of_unknown_id_is_stopped() -> None:
    _, playback, server = setup()
    ws = FakeWs()
    task = asyncio.create_task(server.handle(ws))  # type: ignore[arg-type]
    ws.push("connection", {})
    await ws.next("getUserData")
    play(ws, "m1", name="nosuch")
    failed = await ws.next("notifyStreamStatusEvent")
    assert (failed["data"][0]["status"], failed["data"][0]["info"]) == (
        "FAILED",
        "Stream not found",
    )
    ws.push("stopStream", {"mediaSessionId": "zz", "name": "x"})
    stopped = await ws.next("notifyStreamStatusEvent")
    assert stopped["data"][0]["status"] == "STOPPED"
    ws.inbox.put_nowait(None)
    await asyncio.wait_for(task, 5)
    assert playback.viewers == {}


async def test_keepalive_closes_a_silent_session() -> None:
    _, playback, server = setup(ping=0.01, missed=2)
    ws = FakeWs()
    ws.push("connection", {})
    task = asyncio.create_task(server.handle(ws))  # type: ignore[arg-type]
    await ws.next("getUserData")
    play(ws, "m1")
    await ws.next("notifyStreamStatusEvent")
    # Nothing more from the client: two pings, then the session ends and frees its viewer.
    await asyncio.wait_for(task, 5)
    pings = 0
    while not ws.sent.empty():
        pings += (await ws.sent.get())["message"] == "ping"
    assert pings == 2
    assert playback.viewers == {}
