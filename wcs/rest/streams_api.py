"""``/rest-api/stream/*``: find, find_all, terminate (WCS semantics, spec §2.4).

``find`` and ``terminate`` take the same filters: ``name``, ``mediaSessionId``,
``mediaSessionIds`` (list), ``published``, ``status``. ``terminate`` with ``{}`` stops every
stream; a SIP call's stream is stopped by hanging the call up. Extra entries (WebRTC viewers,
``published:false``, listed by ``viewers``) appear in ``find_all`` and in ``find`` by
their JSON fields.

Our extension: each stream entry has ``urls`` (``webrtc``, ``whep``, ``hls``, ``rtsp`` and,
with TLS, ``hlsTls``): where that stream plays, with the host the client used to ask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from wcs.app.streams import Stream, StreamHub
from wcs.rest.http import Request, Response, Router, error, json_response
from wcs.rest.schema_bodies import STREAM_FILTER
from wcs.rest.views import ViewerState, stream_json, viewer_json


def _filters(body: dict[str, Any]) -> dict[str, Any]:
    v = STREAM_FILTER.parse(body)
    return {
        "name": v["name"],
        "media_session_id": v["mediaSessionId"],
        "media_session_ids": v["mediaSessionIds"],
        "published": v["published"],
        "status": v["status"],
    }


def _entry_matches(obj: dict[str, Any], f: dict[str, Any]) -> bool:
    checks = (
        ("name", f["name"]),
        ("mediaSessionId", f["media_session_id"]),
        ("published", f["published"]),
    )
    for key, want in checks:
        if want is not None and obj.get(key) != want:
            return False
    if (
        f["media_session_ids"] is not None
        and obj.get("mediaSessionId") not in f["media_session_ids"]
    ):
        return False
    status = f["status"]
    return status is None or str(obj.get("status", "")).upper() == status.upper()


class ViewerEntry(ViewerState, Protocol):
    """A player's entry (``published: false``); /stream/terminate can stop it."""

    def terminate(self) -> None: ...


ViewerSource = Callable[[], Iterable[ViewerEntry]]


def _no_viewers() -> list[ViewerEntry]:
    return []


# (stream name, the Host the client asked) -> {kind: url}
UrlsOf = Callable[[str, str], dict[str, str]]


def add_stream_routes(
    router: Router,
    hub: StreamHub,
    viewers: ViewerSource = _no_viewers,
    urls: UrlsOf | None = None,
) -> None:
    """``viewers``: the current players, listed after the published streams; ``urls``:
    where a stream plays (added to its entries as ``urls``)."""

    def entry(stream: Stream, req: Request) -> dict[str, Any]:
        obj = stream_json(stream)
        if urls is not None:
            obj["urls"] = urls(stream.name, req.headers.get("host") or "")
        return obj

    def matching(f: dict[str, Any]) -> tuple[list[Stream], list[ViewerEntry]]:
        streams = hub.find(**f)
        return streams, [v for v in viewers() if _entry_matches(viewer_json(v), f)]

    async def find(req: Request) -> Response:
        streams, extras = matching(_filters(req.json()))
        found = [entry(s, req) for s in streams] + [viewer_json(v) for v in extras]
        if not found:
            return error(404, "Stream not found")
        return json_response(found)

    async def find_all(req: Request) -> Response:
        found = [entry(s, req) for s in hub.all()] + [viewer_json(v) for v in viewers()]
        if not found:
            return error(404, "Streams not found")
        return json_response(found)

    async def terminate(req: Request) -> Response:
        streams, stoppable = matching(_filters(req.json()))
        # Viewers (published:false entries) can be stopped one by one as well.
        if not streams and not stoppable:
            return error(404, "Stream not found")
        for entry in stoppable:
            entry.terminate()
        for stream in streams:
            hub.terminate(stream)
        return json_response("termination request received")

    router.add(("GET", "POST"), "/rest-api/stream/find", find)
    router.add(("GET", "POST"), "/rest-api/stream/find_all", find_all)
    router.add(("GET", "POST"), "/rest-api/stream/terminate", terminate)
