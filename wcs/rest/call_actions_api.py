"""``/rest-api/call/*`` to take part in an established call (issue 19).

- ``send_dtmf`` ``{callId, dtmf, type}`` (WCS): ``RFC2833`` (default), ``INFO``,
  ``INFO_RELAY``; keys are queued per call and never interleaved;
- ``inject_sound`` ``{callId, fileName, loop}`` (WCS name): a file of ``sounds_dir`` in
  place of the silence we send; ``inject_sound/terminate`` ``{callId}`` (our extension);
- ``inject_stream/startup`` (WCS 5.2) and ``inject_stream`` (WCS 5.0, the sip-as-rtmp-4
  demo) ``{callId, streamName}``: a stream of the server in place of the silence we send;
  ``inject_stream/terminate`` ``{callId}`` (:mod:`wcs.app.call_inject`);
- ``hold``, ``unhold`` ``{callId}`` and ``transfer`` ``{callId, target}`` (our extensions:
  WCS has them only as WebSocket messages).

404 for an unknown call, 409 for a call that is not established (ringing, ending) or busy
with another offer or transfer, 400 naming the field. The sound is decoded off the event
loop (a thread) through the server's bounded :class:`~wcs.media.sound_cache.SoundCache`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from wcs.app.call_inject import StreamInjections
from wcs.app.calls import CallManager
from wcs.app.errors import RequestError
from wcs.media.sound import SoundError
from wcs.media.sound_cache import SoundCache
from wcs.rest.http import Request, Response, Router, empty, error
from wcs.rest.schema_bodies import (
    CALL_ID_BODY,
    CALL_INJECT_SOUND,
    CALL_INJECT_STREAM,
    CALL_SEND_DTMF,
    CALL_TRANSFER,
)

Handler = Callable[[Request], Awaitable[Response]]


def _refusing(handler: Callable[[Request], Awaitable[None]]) -> Handler:
    """200 with an empty body, or the manager's refusal as a JSON error."""

    async def run(req: Request) -> Response:
        try:
            await handler(req)
        except RequestError as exc:
            return error(exc.status, str(exc), exc.field)
        return empty()

    return run


def add_call_action_routes(
    router: Router,
    calls: CallManager,
    sounds_dir: str,
    sounds: SoundCache,
    injections: StreamInjections | None = None,
) -> None:
    actions = calls.actions

    async def send_dtmf(req: Request) -> None:
        v = CALL_SEND_DTMF.parse(req.json())
        actions.send_dtmf(v["callId"], v["dtmf"], v["type"])

    async def inject_sound(req: Request) -> None:
        v = CALL_INJECT_SOUND.parse(req.json())
        call_id, name = v["callId"], v["fileName"]
        actions.talking(call_id)  # 404 / 409 before any decoding
        try:
            clip = await asyncio.to_thread(sounds.load, sounds_dir, name)
        except SoundError as exc:
            raise RequestError(400, str(exc).replace("soundFile", "fileName"), "fileName") from None
        actions.inject_sound(call_id, clip, bool(v["loop"]))  # the call may have ended meanwhile

    async def stop_sound(req: Request) -> None:
        call_id = CALL_ID_BODY.parse(req.json())["callId"]
        if not actions.stop_sound(call_id):
            raise RequestError(404, "no sound is playing into this call")

    async def hold(req: Request) -> None:
        actions.hold(CALL_ID_BODY.parse(req.json())["callId"], True)

    async def unhold(req: Request) -> None:
        actions.hold(CALL_ID_BODY.parse(req.json())["callId"], False)

    async def transfer(req: Request) -> None:
        v = CALL_TRANSFER.parse(req.json())
        actions.transfer(v["callId"], v["target"])

    async def inject_stream(req: Request) -> None:
        v = CALL_INJECT_STREAM.parse(req.json())
        if injections is None:
            raise RequestError(404, "stream injection is not available")
        injections.start(v["callId"], v["streamName"])

    async def stop_stream(req: Request) -> None:
        call_id = CALL_ID_BODY.parse(req.json())["callId"]
        if injections is None:
            raise RequestError(404, "no stream is injected into this call")
        injections.stop(call_id)

    for path, handler in (
        ("send_dtmf", send_dtmf),
        ("inject_stream", inject_stream),
        ("inject_stream/startup", inject_stream),
        ("inject_stream/terminate", stop_stream),
        ("inject_sound", inject_sound),
        ("inject_sound/terminate", stop_sound),
        ("hold", hold),
        ("unhold", unhold),
        ("transfer", transfer),
    ):
        router.add(("GET", "POST"), f"/rest-api/call/{path}", _refusing(handler))
