"""/rest-api/stream/* over a real HTTP server on a free port (the hub is a real one)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.rest.client import Resp, request
from wcs.app.streams import PublisherControl, Stream, StreamHub, StreamStatus
from wcs.rest.http import HttpServer, Router
from wcs.rest.streams_api import add_stream_routes

pytestmark = pytest.mark.asyncio


class Peer:
    senders: dict[str, object] = {"audio": None}

    def stats(self) -> dict[str, object]:
        return {}


class Viewer:
    """A player's entry: what the REST layer renders (wcs.rest.views.ViewerState)."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.peer = Peer()
        self.media_session_id = "v1"
        self.app_key = "a"
        self.session_id: str | None = None
        self.provider = "WebRTC"
        self.status = StreamStatus.PLAYING
        self.info: str | None = None
        self.created = 0.0
        self.terminated = False

    def terminate(self) -> None:
        self.terminated = True


async def post(port: int, method: str, body: dict[str, Any]) -> Resp:
    return await request(port, "POST", f"/rest-api/stream/{method}", body=json.dumps(body))


async def test_find_find_all_terminate() -> None:
    hub = StreamHub()
    router = Router()
    viewers: list[Viewer] = []
    add_stream_routes(router, hub, lambda: viewers)
    server = HttpServer(router, host="127.0.0.1", port=0)
    await server.start()
    try:
        port = server.port
        r = await post(port, "find_all", {})
        assert r.status == 404 and r.json()["error"] == "Streams not found"
        hangups: list[str] = []
        control = PublisherControl(terminate=lambda: hangups.append("c1"))
        cam = hub.publish("cam", call_id="c1", app_key="a", control=control).stream
        hub.publish("other", call_id=None, app_key="a")
        viewers.append(Viewer(cam))
        r = await post(port, "find_all", {})
        assert r.status == 200 and len(r.json()) == 3
        r = await post(port, "find", {"name": "cam"})
        assert [e["published"] for e in r.json()] == [True, False]
        r = await post(port, "find", {"published": "false"})
        assert [e["mediaSessionId"] for e in r.json()] == ["v1"]
        r = await post(port, "find", {"mediaSessionId": cam.media_session_id})
        assert [e["name"] for e in r.json()] == ["cam"]
        r = await post(port, "find", {"name": "nope"})
        assert r.status == 404
        r = await post(port, "find", {"mediaSessionIds": "x"})
        assert r.status == 400 and r.json()["field"] == "mediaSessionIds"
        r = await post(port, "terminate", {"mediaSessionIds": [cam.media_session_id]})
        assert r.status == 200 and hangups == ["c1"]
        r = await post(port, "terminate", {})
        assert r.status == 200 and hub.get("other") is None  # {} stops every stream
        assert viewers[0].terminated  # and every viewer
        r = await post(port, "terminate", {"name": "gone"})
        assert r.status == 404
    finally:
        await server.close()
