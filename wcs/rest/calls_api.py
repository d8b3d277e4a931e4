"""``/rest-api/call/*``: startup, find, find_all, terminate (WCS semantics, spec §2.2)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from wcs.app.calls import CallError, CallManager, CallRequest
from wcs.rest.http import BadRequest, Params, Request, Response, Router, empty, error, json_response
from wcs.rest.views import call_json
from wcs.sip.ua import Account

# Stream names become file names and URL parts later: keep them printable and bounded.
_STREAM_NAME = re.compile(r"^[^\x00-\x1f/\\]{1,200}$")
_TOKEN = re.compile(r"^[A-Za-z0-9._~+!%*'()@:$,;=?&#\[\]-]{1,256}$")


def parse_call_request(p: Params) -> CallRequest:
    call_id = p.str("callId", required=True, max_len=256)
    assert call_id is not None
    if not _TOKEN.match(call_id):
        raise BadRequest("callId", "callId has characters that are not allowed")
    callee = p.str("callee", required=True, max_len=256)
    assert callee is not None
    if any(c in callee for c in '\r\n\x00<> "'):
        raise BadRequest("callee", "callee must be a user name or a SIP URI")
    login = p.str("sipLogin", required=True, max_len=128)
    assert login is not None
    if any(c in login for c in '\r\n\x00<>@:; "'):
        raise BadRequest("sipLogin", "sipLogin must be a plain SIP user name")
    proxy = p.str("sipOutboundProxy", default="", max_len=255) or ""
    domain = p.str("sipDomain", default="", max_len=255) or proxy
    if not domain:
        raise BadRequest("sipDomain", "sipDomain (or sipOutboundProxy) is required")
    for name, value in (("sipDomain", domain), ("sipOutboundProxy", proxy)):
        if any(c in value for c in '\r\n\x00<>@; "/'):
            raise BadRequest(name, f"{name} must be a host name or address")
    port = p.int("sipPort", default=5060, min=1, max=65535)
    transport = (p.str("sipTransport", default="UDP", max_len=8) or "UDP").lower()
    if transport not in ("udp", "tcp"):
        raise BadRequest("sipTransport", "sipTransport must be UDP or TCP")
    auth_name = p.str("sipAuthenticationName", default="", max_len=128) or ""
    password = p.str("sipPassword", default="", max_len=256) or ""
    visible = p.str("visibleName", default=None, max_len=128)
    if visible is not None and any(c in visible for c in '\r\n\x00"'):
        raise BadRequest("visibleName", "visibleName has characters that are not allowed")
    to_stream = p.str("toStream", default=None, max_len=200)
    if to_stream is not None and not _STREAM_NAME.match(to_stream):
        raise BadRequest("toStream", "toStream must be 1-200 printable characters without / or \\")
    rtmp_url = p.str("rtmpUrl", default=None, max_len=1024)
    if rtmp_url is not None and not rtmp_url.startswith(("rtmp://", "rtmps://")):
        raise BadRequest("rtmpUrl", "rtmpUrl must start with rtmp:// or rtmps://")
    custom_params = p.obj("custom")
    custom = custom_params.raw if custom_params is not None else {}
    account = Account(
        login=login,
        domain=domain,
        password=password,
        auth_name=auth_name,
        outbound_proxy=proxy,
        port=port if port is not None else 5060,
        transport=transport,
        display_name=visible or "",
    )
    return CallRequest(
        call_id=call_id,
        callee=callee,
        account=account,
        register_required=bool(p.bool("sipRegisterRequired", default=False)),
        to_stream=to_stream or None,
        rtmp_url=rtmp_url or None,
        rtmp_stream=p.str("rtmpStream", default=None, max_len=256) or None,
        has_audio=bool(p.bool("hasAudio", default=True)),
        has_video=bool(p.bool("hasVideo", default=True)),
        app_key=p.str("appKey", default="defaultApp", max_len=128) or "defaultApp",
        visible_name=visible,
        custom=custom,
    )


BodyDefaults = Callable[[dict[str, Any]], dict[str, Any]]


def add_call_routes(
    router: Router, calls: CallManager, defaults: BodyDefaults | None = None
) -> None:
    """``defaults`` may fill in a /call/startup body before it is parsed (the demo callee)."""

    async def startup(req: Request) -> Response:
        body = req.json()
        if defaults is not None:
            body = defaults(body)
        call_req = parse_call_request(Params(body))
        try:
            calls.startup(call_req)
        except CallError as exc:
            return error(exc.status, str(exc), exc.field)
        return empty()

    async def find(req: Request) -> Response:
        p = Params(req.json())
        found = calls.find(
            call_id=p.str("callId", default=None),
            callee=p.str("callee", default=None),
            status=p.str("status", default=None),
            rtmp_url=p.str("rtmpUrl", default=None),
            finished=p.bool("finished", default=False),
        )
        if not found:
            return error(404, "call not found")
        return json_response([call_json(c) for c in found])

    async def find_all(req: Request) -> Response:
        found = calls.all()
        if not found:
            return error(404, "no calls")
        return json_response([call_json(c) for c in found])

    async def terminate(req: Request) -> Response:
        call_id = Params(req.json()).str("callId", required=True)
        assert call_id is not None
        if not calls.terminate(call_id):
            return error(404, "call not found", "callId")
        return empty()

    router.add(("GET", "POST"), "/rest-api/call/startup", startup)
    router.add(("GET", "POST"), "/rest-api/call/find", find)
    router.add(("GET", "POST"), "/rest-api/call/find_all", find_all)
    router.add(("GET", "POST"), "/rest-api/call/terminate", terminate)
