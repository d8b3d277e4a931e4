"""``/rest-api/push/*``: RTMP republishing (WCS semantics, spec §2.3).

``startup`` (streamName, rtmpUrl, rtmpTransponderFullUrl, rtmpFlashVersion, options) answers
the Transponder object with its own ``mediaSessionId``; 400 names a missing or unusable field,
409 a second push of the same stream to the same rtmpUrl. ``find`` (streamName — published
or source name —, rtmpUrl, mediaSessionId) and ``find_all`` answer 404 when nothing matches.
``terminate``, ``mute``, ``unmute`` take the transponder's ``mediaSessionId``; ``sound_on``
(mediaSessionId, soundFile: a file name in ``sounds_dir``, loop) replaces the push's audio
with that file, ``sound_off`` brings the call's audio back. 404 for an unknown push, 400
naming ``soundFile`` for a file that is not a plain name there or does not decode.
"""

from __future__ import annotations

from typing import Any

from wcs.app.errors import RequestError
from wcs.media.sound import SoundError
from wcs.rest.http import (
    BadRequest,
    Handler,
    Request,
    Response,
    Router,
    empty,
    error,
    json_response,
)
from wcs.rest.schema_bodies import MEDIA_SESSION_ID, PUSH_FILTER, PUSH_STARTUP, SOUND_ON
from wcs.rest.views import push_json
from wcs.rtmp.errors import RtmpError
from wcs.rtmp.push import PushManager, PushRequest
from wcs.rtmp.url import parse_base_url, parse_full_url


def parse_push_request(body: dict[str, Any]) -> PushRequest:
    v = PUSH_STARTUP.parse(body)
    full_url = bool(v["rtmpTransponderFullUrl"])
    try:
        (parse_full_url if full_url else parse_base_url)(v["rtmpUrl"])
    except RtmpError as exc:
        raise BadRequest("rtmpUrl", f"rtmpUrl: {exc}") from None
    options: dict[str, Any] = v["options"] or {}
    return PushRequest(
        stream_name=v["streamName"],
        rtmp_url=v["rtmpUrl"],
        full_url=full_url,
        flash_version=v["rtmpFlashVersion"] or None,
        options=dict(options),
        muted=options.get("action") == "mute",
    )


def add_push_routes(router: Router, pushes: PushManager) -> None:
    async def startup(req: Request) -> Response:
        request = parse_push_request(req.json())
        try:
            job = pushes.startup(request)
        except RequestError as exc:
            return error(exc.status, str(exc), exc.field)
        return json_response(push_json(job))

    async def find(req: Request) -> Response:
        v = PUSH_FILTER.parse(req.json())
        found = pushes.find(
            stream_name=v["streamName"],
            rtmp_url=v["rtmpUrl"],
            media_session_id=v["mediaSessionId"],
        )
        if not found:
            return error(404, "not found any transponder")
        return json_response([push_json(job) for job in found])

    async def find_all(req: Request) -> Response:
        found = pushes.all()
        if not found:
            return error(404, "not found any transponder")
        return json_response([push_json(job) for job in found])

    def by_id(action: str) -> Handler:
        async def handler(req: Request) -> Response:
            msid: str = MEDIA_SESSION_ID.parse(req.json())["mediaSessionId"]
            if action == "terminate":
                ok = pushes.terminate(msid)
            else:
                ok = pushes.mute(msid, action == "mute")
            if not ok:
                return error(404, "transponder not found", "mediaSessionId")
            return empty()

        return handler

    async def sound_on(req: Request) -> Response:
        v = SOUND_ON.parse(req.json())
        try:
            ok = await pushes.sound_on(v["mediaSessionId"], v["soundFile"], bool(v["loop"]))
        except SoundError as exc:
            return error(400, str(exc), "soundFile")
        if not ok:
            return error(404, "transponder not found", "mediaSessionId")
        return empty()

    async def sound_off(req: Request) -> Response:
        msid: str = MEDIA_SESSION_ID.parse(req.json())["mediaSessionId"]
        if not pushes.sound_off(msid):
            return error(404, "transponder not found", "mediaSessionId")
        return empty()

    router.add(("GET", "POST"), "/rest-api/push/startup", startup)
    router.add(("GET", "POST"), "/rest-api/push/sound_on", sound_on)
    router.add(("GET", "POST"), "/rest-api/push/sound_off", sound_off)
    router.add(("GET", "POST"), "/rest-api/push/find", find)
    router.add(("GET", "POST"), "/rest-api/push/find_all", find_all)
    for action in ("terminate", "mute", "unmute"):
        router.add(("GET", "POST"), f"/rest-api/push/{action}", by_id(action))
