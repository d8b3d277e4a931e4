"""Our extension for incoming calls (issue 12): ``/rest-api/sip/register``, ``unregister``,
``find``, ``find_all`` (registrations of our accounts) and ``/rest-api/call/answer``,
``/rest-api/call/reject`` (an incoming call that rings with ``answer = ring``).

The same bodies come from the config file: ``[[sip_registration]]`` tables are
``/sip/register`` bodies, ``[[sip_trunk]]`` tables are :data:`SIP_TRUNK` bodies.
"""

from __future__ import annotations

from typing import Any

from wcs.app.errors import RequestError
from wcs.app.inbound import ANSWER_MODES, DEFAULT_TEMPLATE, Dispatch, Trunk, networks
from wcs.app.inbound_calls import InboundCalls
from wcs.app.registrations import AccountRegistration, AccountRegistrations
from wcs.rest.calls_api import check_rtmp_url, parse_account
from wcs.rest.http import BadRequest, Request, Response, Router, empty, error, json_response
from wcs.rest.schema_bodies import (
    CALL_ID_BODY,
    CALL_REJECT,
    REGISTRATION_FILTER,
    REGISTRATION_ID,
    SIP_REGISTER,
    SIP_TRUNK,
)


def parse_dispatch(v: dict[str, Any]) -> Dispatch:
    """The dispatch fields of a parsed register/trunk body."""
    check_rtmp_url(v["rtmpUrl"])
    answer = (v["answer"] or "auto").lower()
    assert answer in ANSWER_MODES  # the schema's enum
    base = Dispatch()
    return Dispatch(
        to_stream=v["toStream"] or DEFAULT_TEMPLATE,
        has_audio=v["hasAudio"] is not False,
        has_video=v["hasVideo"] is not False,
        record=bool(v["record"]),
        rtmp_url=v["rtmpUrl"] or None,
        answer=answer,
        app_key=v["appKey"] or "defaultApp",
        ring_timeout=float(v["ringTimeout"] or base.ring_timeout),
        hook_timeout=float(v["hookTimeout"] or base.hook_timeout),
        hook_default=(v["hookDefault"] or base.hook_default).lower(),
        pin=(v["pin"] or "").upper(),
        pin_timeout=float(v["pinTimeout"]) if v["pinTimeout"] else None,
    )


def parse_registration(body: dict[str, Any], regs: AccountRegistrations) -> AccountRegistration:
    v = SIP_REGISTER.parse(body)
    return AccountRegistration(
        registration_id=v["registrationId"] or regs.new_id(),
        account=parse_account(v),
        dispatch=parse_dispatch(v),
        expires=v["expires"],
    )


def parse_trunk(body: dict[str, Any]) -> Trunk:
    v = SIP_TRUNK.parse(body)
    try:
        allowed = networks(v["allow"] or [])
    except ValueError as exc:
        raise BadRequest("allow", str(exc)) from None
    if not allowed and not v["username"]:
        raise BadRequest("allow", "a trunk needs an allow list, credentials or both")
    algorithms = tuple(a.upper() for a in v["algorithms"] or ("SHA-256", "MD5"))
    if not algorithms or any(a not in ("SHA-256", "MD5") for a in algorithms):
        raise BadRequest("algorithms", "digest algorithms: SHA-256 and/or MD5")
    return Trunk(
        name=v["name"],
        allowed=allowed,
        username=v["username"] or "",
        password=v["password"] or "",
        realm=v["realm"] or "wcs",
        algorithms=algorithms,
        numbers=tuple(v["numbers"] or ()),
        dispatch=parse_dispatch(v),
    )


def add_sip_routes(router: Router, regs: AccountRegistrations, inbound: InboundCalls) -> None:
    async def register(req: Request) -> Response:
        reg = parse_registration(req.json(), regs)
        try:
            regs.add(reg)
        except RequestError as exc:
            return error(exc.status, str(exc), exc.field)
        return json_response(reg.to_json())

    async def unregister(req: Request) -> Response:
        reg_id: str = REGISTRATION_ID.parse(req.json())["registrationId"]
        if not regs.remove(reg_id):
            return error(404, "registration not found", "registrationId")
        return empty()

    async def find(req: Request) -> Response:
        v = REGISTRATION_FILTER.parse(req.json())
        found = [
            r
            for r in regs.all()
            if v["registrationId"] in (None, r.registration_id)
            and v["sipLogin"] in (None, r.account.login)
            and (v["status"] is None or v["status"].upper() == r.status.value)
        ]
        if not found:
            return error(404, "registration not found")
        return json_response([r.to_json() for r in found])

    async def find_all(req: Request) -> Response:
        found = regs.all()
        if not found:
            return error(404, "no registrations")
        return json_response([r.to_json() for r in found])

    async def answer(req: Request) -> Response:
        call_id: str = CALL_ID_BODY.parse(req.json())["callId"]
        if not inbound.answer(call_id):
            return error(404, "no incoming call ringing with this callId", "callId")
        return empty()

    async def reject(req: Request) -> Response:
        v = CALL_REJECT.parse(req.json())
        if not inbound.reject(v["callId"], v["status"] or 486):
            return error(404, "no incoming call ringing with this callId", "callId")
        return empty()

    routes = {
        "sip/register": register,
        "sip/unregister": unregister,
        "sip/find": find,
        "sip/find_all": find_all,
        "call/answer": answer,
        "call/reject": reject,
    }
    for path, handler in routes.items():
        router.add(("GET", "POST"), f"/rest-api/{path}", handler)
