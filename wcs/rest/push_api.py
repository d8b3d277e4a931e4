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

import re

from wcs.media.sound import MAX_NAME, SoundError
from wcs.rest.http import (
    BadRequest,
    Handler,
    Params,
    Request,
    Response,
    Router,
    empty,
    error,
    json_response,
)
from wcs.rest.views import push_json
from wcs.rtmp.push import PushError, PushManager, PushRequest

_STREAM_NAME = re.compile(r"^[^\x00-\x1f/\\]{1,200}$")
_FLASH_VERSION = re.compile(r"^[\x20-\x7e]{1,128}$")


def parse_push_request(p: Params) -> PushRequest:
    name = p.req_str("streamName", max_len=200)
    if not _STREAM_NAME.match(name):
        raise BadRequest("streamName", "streamName must be 1-200 printable characters")
    rtmp_url = p.req_str("rtmpUrl", max_len=2048)
    if not rtmp_url.startswith(("rtmp://", "rtmps://")):
        raise BadRequest("rtmpUrl", "rtmpUrl must start with rtmp:// or rtmps://")
    flash = p.str("rtmpFlashVersion", default=None, max_len=128) or None
    if flash is not None and not _FLASH_VERSION.match(flash):
        raise BadRequest("rtmpFlashVersion", "rtmpFlashVersion must be printable ASCII")
    options = p.obj("options")
    muted = False
    if options is not None:
        action = options.str("action", default=None, max_len=32)
        muted = action == "mute"
    return PushRequest(
        stream_name=name,
        rtmp_url=rtmp_url,
        full_url=p.bool("rtmpTransponderFullUrl", default=False),
        flash_version=flash,
        options=dict(options.raw) if options is not None else {},
        muted=muted,
    )


def add_push_routes(router: Router, pushes: PushManager) -> None:
    async def startup(req: Request) -> Response:
        request = parse_push_request(Params(req.json()))
        try:
            job = pushes.startup(request)
        except PushError as exc:
            return error(exc.status, str(exc), exc.field)
        return json_response(push_json(job))

    async def find(req: Request) -> Response:
        p = Params(req.json())
        found = pushes.find(
            stream_name=p.str("streamName", default=None, max_len=200),
            rtmp_url=p.str("rtmpUrl", default=None, max_len=2048),
            media_session_id=p.str("mediaSessionId", default=None, max_len=64),
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
            msid = Params(req.json()).req_str("mediaSessionId", max_len=64)
            if action == "terminate":
                ok = pushes.terminate(msid)
            else:
                ok = pushes.mute(msid, action == "mute")
            if not ok:
                return error(404, "transponder not found", "mediaSessionId")
            return empty()

        return handler

    async def sound_on(req: Request) -> Response:
        p = Params(req.json())
        msid = p.req_str("mediaSessionId", max_len=64)
        sound_file = p.req_str("soundFile", max_len=MAX_NAME)
        loop = p.bool("loop", default=False)
        try:
            ok = await pushes.sound_on(msid, sound_file, loop)
        except SoundError as exc:
            return error(400, str(exc), "soundFile")
        if not ok:
            return error(404, "transponder not found", "mediaSessionId")
        return empty()

    async def sound_off(req: Request) -> Response:
        msid = Params(req.json()).req_str("mediaSessionId", max_len=64)
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
