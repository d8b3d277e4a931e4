"""The asyncio edge of the WCS protocol with a fake WebSocket, the real hub and Playback."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.unit.webrtc.chrome_offer import CHROME_OFFER
from tests.unit.webrtc.hub import Hub
from wcs.app.streams import TrackInfo
from wcs.rest.views import viewer_json
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.transport import PeerSettings
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
        self.log: list[dict[str, Any]] = []  # everything sent, in order
        self.last_read_at = 0  # len(log) when the server last read a client frame

    async def receive(self) -> str | None:
        msg = await self.inbox.get()
        if msg is None:
            self.closed = True
        self.last_read_at = len(self.log)
        return msg

    async def send_text(self, text: str) -> None:
        frame = json.loads(text)
        self.log.append(frame)
        await self.sent.put(frame)

    def push(self, message: str, payload: Any = None) -> None:
        self.inbox.put_nowait(json.dumps({"message": message, "data": [payload]}))

    async def next(self, message: str) -> dict[str, Any]:
        while True:
            frame = await asyncio.wait_for(self.sent.get(), 5)
            assert isinstance(frame["data"], list)
            if frame["message"] == message:
                return frame


def setup(ping: float = 5.0, missed: int = 10) -> tuple[Hub, Playback, SignalingServer]:
    hub = Hub()
    hub.publish("s1", call_id="c1", app_key="a").set_tracks(
        {
            "audio": TrackInfo("audio", "PCMU", 8000),
            "video": TrackInfo(
                "video", "H264", 90000, fmtp="profile-level-id=42e01f;packetization-mode=1"
            ),
        }
    )
    playback = Playback(hub, PeerSettings(CERT, bind_ip="127.0.0.1"))
    return hub, playback, SignalingServer(playback, ping_interval=ping, max_missed=missed)


def play(ws: FakeWs, msid: str, name: str = "s1") -> None:
    ws.push(
        "playStream",
        {"mediaSessionId": msid, "name": name, "mediaProvider": "WebRTC", "sdp": CHROME_OFFER},
    )


async def test_play_stop_and_close() -> None:
    _, playback, server = setup()
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
    assert playback.viewers == {}
    # A second viewer, then the socket closes: the viewer is stopped with it.
    play(ws, "m2")
    await ws.next("notifyStreamStatusEvent")
    assert list(playback.viewers) == ["m2"]
    ws.inbox.put_nowait(None)
    await asyncio.wait_for(task, 5)
    assert playback.viewers == {} and server.sessions == {}


async def test_publisher_stop_reaches_the_session() -> None:
    hub, playback, server = setup()
    ws = FakeWs()
    task = asyncio.create_task(server.handle(ws))  # type: ignore[arg-type]
    ws.push("connection", {})
    await ws.next("getUserData")
    play(ws, "m1")
    await ws.next("notifyStreamStatusEvent")
    assert list(playback.viewers) == ["m1"]  # not connected, so not yet a packet sink
    hub.pubs["s1"].unpublish("call ended")
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
    # Counted from the client's last frame (a ping sent before it was read was answered by
    # it): exactly max_missed pings, then the end, however long the play took to answer.
    pings = [f for f in ws.log[ws.last_read_at :] if f["message"] == "ping"]
    assert len(pings) == 2
    assert playback.viewers == {}


class Hooks:
    """Records what would be POSTed as REST hooks."""

    def __init__(self) -> None:
        self.posted: list[tuple[str | None, str, dict[str, Any]]] = []

    def post(self, app_key: str | None, method: str, body: dict[str, Any]) -> None:
        self.posted.append((app_key, method, json.loads(json.dumps(body))))

    def of(self, msid: str) -> list[tuple[str | None, str, str, str | None]]:
        return [
            (k, m, b["status"], b["info"]) for k, m, b in self.posted if b["mediaSessionId"] == msid
        ]


async def test_player_statuses_are_hooks_to_the_sessions_app_key() -> None:
    hub, playback, server = setup()
    hooks = Hooks()
    playback.hooks = hooks
    ws = FakeWs()
    task = asyncio.create_task(server.handle(ws))  # type: ignore[arg-type]
    ws.push("connection", {"appKey": "app1", "sipPassword": "hunter2", "authToken": "tok"})
    await ws.next("getUserData")
    play(ws, "m1")
    await ws.next("notifyStreamStatusEvent")
    assert hooks.of("m1") == [("app1", "StreamStatusEvent", "PLAYING", None)]
    # The body is the viewer's /stream/find_all entry at that moment.
    body = hooks.posted[0][2]
    entry = viewer_json(next(iter(playback.viewers.values())))
    assert set(body) == set(entry)
    assert body["published"] is False and body["name"] == "s1" and body["appKey"] == "app1"
    assert body["sessionId"] == entry["sessionId"] and body["mediaProvider"] == "WebRTC"
    ws.push("stopStream", {"mediaSessionId": "m1"})
    await ws.next("notifyStreamStatusEvent")
    assert hooks.of("m1") == [
        ("app1", "StreamStatusEvent", "PLAYING", None),
        ("app1", "StreamStatusEvent", "STOPPED", "Stopped by user"),
    ]
    # Refusals: the hub's and the session's own, each one FAILED hook of the same shape.
    play(ws, "m2", name="nosuch")
    await ws.next("notifyStreamStatusEvent")
    ws.push("playStream", {"mediaSessionId": "m3", "name": "s1", "mediaProvider": "MSE"})
    await ws.next("notifyStreamStatusEvent")
    ws.push("playStream", {"mediaSessionId": "m4", "name": "", "sdp": CHROME_OFFER})
    await ws.next("notifyStreamStatusEvent")
    for _ in range(50):  # the session's refusals are reported on its next turn
        if len(hooks.posted) == 5:
            break
        await asyncio.sleep(0.01)
    assert hooks.of("m2") == [("app1", "StreamStatusEvent", "FAILED", "Stream not found")]
    assert hooks.of("m3") == [("app1", "StreamStatusEvent", "FAILED", "Failed by error")]
    assert hooks.of("m4") == [("app1", "StreamStatusEvent", "FAILED", "Stream not found")]
    assert all(set(b) == set(entry) for _, _, b in hooks.posted)
    # A second viewer ended by the publisher: PLAYING then STOPPED, once each.
    play(ws, "m5")
    await ws.next("notifyStreamStatusEvent")
    hub.pubs["s1"].unpublish("call ended")
    await ws.next("notifyStreamStatusEvent")
    ws.inbox.put_nowait(None)
    await asyncio.wait_for(task, 5)
    assert hooks.of("m5") == [
        ("app1", "StreamStatusEvent", "PLAYING", None),
        ("app1", "StreamStatusEvent", "STOPPED", "Stopped by publisher stop"),
    ]
    assert "hunter2" not in json.dumps(hooks.posted) and "tok" not in json.dumps(hooks.posted)
