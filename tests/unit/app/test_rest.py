"""/rest-api/stream/* over a real HTTP server on a free port (the hub is a real one)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.rest.client import Resp, request
from wcs.app.streams import StreamHub
from wcs.rest.http import HttpServer, Router
from wcs.rest.streams_api import add_stream_routes

pytestmark = pytest.mark.asyncio


class Viewer:
    def to_json(self) -> dict[str, Any]:
        return {"name": "cam", "mediaSessionId": "v1", "published": False, "status": "PLAYING"}


async def post(port: int, method: str, body: dict[str, Any]) -> Resp:
    return await request(port, "POST", f"/rest-api/stream/{method}", body=json.dumps(body))


async def test_find_find_all_terminate() -> None:
    hub = StreamHub()
    router = Router()
    add_stream_routes(router, hub)
    server = HttpServer(router, host="127.0.0.1", port=0)
    await server.start()
    try:
        port = server.port
        r = await post(port, "find_all", {})
        assert r.status == 404 and r.json()["error"] == "Streams not found"
        cam = hub.publish("cam", call_id="c1", app_key="a")
        hub.publish("other", call_id=None, app_key="a")
        hangups: list[str] = []
        cam.terminator = lambda: hangups.append("c1")
        hub.add_entry(Viewer())
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
        r = await post(port, "terminate", {"name": "gone"})
        assert r.status == 404
    finally:
        await server.close()
