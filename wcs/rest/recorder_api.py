"""``/rest-api/recorder/*`` (spec §2.5): startup, terminate, find_all; the aliases
``/stream/startRecording`` and ``/stream/stopRecording``.

``startup`` takes the stream's ``mediaSessionId`` (or, as our extension, its ``streamName``)
and an optional ``config: {fileTemplate, rotation}``; 404 for an unknown stream, 400 for a
bad template or rotation. On a stream that is already recording it closes the file and
starts a new one with the new settings.
"""

from __future__ import annotations

from typing import Any

from wcs.app.streams import Stream
from wcs.record.manager import RecorderManager
from wcs.record.rotation import Rotation, RotationError, parse_rotation
from wcs.record.template import TemplateError, validate_template
from wcs.rest.http import BadRequest, Request, Response, Router, empty, error, json_response
from wcs.rest.schema_bodies import RECORDER_STARTUP, RECORDER_STOP
from wcs.rest.views import recorder_json


def _stream(v: dict[str, Any], manager: RecorderManager) -> Stream | None:
    msid: str | None = v["mediaSessionId"]
    name: str | None = v["streamName"]
    if msid is None and name is None:
        raise BadRequest("mediaSessionId", "missing required field 'mediaSessionId'")
    if msid is not None:
        return manager.hub.by_session(msid)
    assert name is not None
    return manager.hub.get(name)


def add_recorder_routes(router: Router, manager: RecorderManager) -> None:
    async def startup(req: Request) -> Response:
        v = RECORDER_STARTUP.parse(req.json())
        stream = _stream(v, manager)
        if stream is None:
            return error(404, "Stream not found", "mediaSessionId")
        config: dict[str, Any] = v["config"] or {}
        template: str | None = config.get("fileTemplate")
        rotation: Rotation | None = None
        if template is not None:
            try:
                validate_template(template)
            except TemplateError as exc:
                raise BadRequest("config.fileTemplate", str(exc)) from None
        spec: str | None = config.get("rotation")
        if spec is not None:
            try:
                rotation = parse_rotation(spec)
            except RotationError as exc:
                raise BadRequest("config.rotation", str(exc)) from None
        manager.start(stream, template, rotation)
        return empty()

    async def terminate(req: Request) -> Response:
        stream = _stream(RECORDER_STOP.parse(req.json()), manager)
        if stream is None or not manager.stop(stream.media_session_id):
            return error(404, "Recording not found", "mediaSessionId")
        return empty()

    async def find_all(req: Request) -> Response:
        found = [recorder_json(r) for r in manager.all()]
        if not found:
            return error(404, "Recordings not found")
        return json_response(found)

    for path, handler in (
        ("/rest-api/recorder/startup", startup),
        ("/rest-api/stream/startRecording", startup),
        ("/rest-api/recorder/terminate", terminate),
        ("/rest-api/stream/stopRecording", terminate),
        ("/rest-api/recorder/find_all", find_all),
    ):
        router.add(("GET", "POST"), path, handler)
