"""``/rest-api/call/*``: startup, find, find_all, terminate (WCS semantics, spec §2.2)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from wcs.app.call import CallRequest
from wcs.app.calls import CallManager
from wcs.app.errors import RequestError
from wcs.rest.http import BadRequest, Params, Request, Response, Router, empty, error, json_response
from wcs.rest.schema_bodies import CALL_FILTER, CALL_ID_BODY, CALL_STARTUP
from wcs.rest.views import call_json
from wcs.rtmp.errors import RtmpError
from wcs.rtmp.url import parse_base_url
from wcs.sip.account import default_port
from wcs.sip.errors import SipParseError
from wcs.sip.ua import Account
from wcs.sip.uri import SipUri, format_hostport


def _sip_server(name: str, value: str) -> SipUri:
    """``host[:port]`` (or, for the proxy, a sip: URI) as the SIP layer will read it."""
    text = value.strip()
    if _is_ipv6(text):
        text = f"[{text}]"  # a bare IPv6 literal: the SIP layer brackets it too
    uri_form = name == "sipOutboundProxy" and text.lower().startswith("sip:")
    try:
        uri = SipUri.parse(text if uri_form else f"sip:{text}")
    except SipParseError as exc:
        raise BadRequest(name, f"{name} is not a SIP host[:port]: {exc}") from None
    if uri.user is not None:
        raise BadRequest(name, f"{name} must be a host, not a user@host")
    return uri


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def _check_callee(callee: str, domain: str) -> None:
    """The INVITE target exactly as the SIP layer builds it (wcs.sip.invite), parsed."""
    text = callee.strip()
    try:
        if text.lower().startswith(("sip:", "sips:")):
            SipUri.parse(text)
        else:
            SipUri.parse(str(SipUri(host=domain, user=text)))
    except SipParseError as exc:
        raise BadRequest("callee", f"callee does not form a SIP URI: {exc}") from None


def parse_account(v: dict[str, Any], display_name: str = "") -> Account:
    """The SIP account fields of a parsed body (``sipLogin``, ``sipDomain``, ...)."""
    login = v["sipLogin"]
    if login is None:
        raise BadRequest("sipLogin", "missing required field 'sipLogin'")
    proxy: str = v["sipOutboundProxy"] or ""
    domain: str = v["sipDomain"] or ""
    if proxy:
        proxy_uri = _sip_server("sipOutboundProxy", proxy)
        domain = domain or format_hostport(proxy_uri.host, proxy_uri.port)
    if not domain:
        raise BadRequest("sipDomain", "sipDomain (or sipOutboundProxy) is required")
    _sip_server("sipDomain", domain)
    transport = (v["sipTransport"] or "UDP").lower()
    return Account(
        login=login,
        domain=domain,
        password=v["sipPassword"] or "",
        auth_name=v["sipAuthenticationName"] or "",
        outbound_proxy=proxy,
        port=v["sipPort"] or default_port(transport),
        transport=transport,
        display_name=display_name,
    )


def check_rtmp_url(rtmp_url: str | None) -> None:
    if rtmp_url is not None:
        try:
            parse_base_url(rtmp_url)
        except RtmpError as exc:
            raise BadRequest("rtmpUrl", f"rtmpUrl: {exc}") from None


def parse_call_request(p: Params) -> CallRequest:
    v = CALL_STARTUP.parse(p.raw)
    call_id: str = v["callId"]
    callee: str = v["callee"]
    visible = v["visibleName"]
    account = parse_account(v, visible or "")
    _check_callee(callee, account.domain)
    if callee.strip().lower().startswith("sips:") and account.transport != "tls":
        # RFC 5630: a sips: target is reached over TLS on every hop, never in clear
        raise BadRequest("callee", "a sips: callee needs sipTransport TLS")
    rtmp_url = v["rtmpUrl"]
    check_rtmp_url(rtmp_url)
    return CallRequest(
        call_id=call_id,
        callee=callee,
        account=account,
        register_required=bool(v["sipRegisterRequired"]),
        to_stream=v["toStream"] or None,
        rtmp_url=rtmp_url or None,
        rtmp_stream=v["rtmpStream"] or None,
        has_audio=v["hasAudio"] is not False,
        has_video=v["hasVideo"] is not False,
        app_key=v["appKey"] or "defaultApp",
        visible_name=visible,
        custom=v["custom"] or {},
        sip_srtp=v["sipSrtp"],
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
        except RequestError as exc:
            return error(exc.status, str(exc), exc.field)
        return empty()

    async def find(req: Request) -> Response:
        v = CALL_FILTER.parse(req.json())
        found = calls.find(
            call_id=v["callId"],
            callee=v["callee"],
            status=v["status"],
            rtmp_url=v["rtmpUrl"],
            finished=bool(v["finished"]),
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
        call_id: str = CALL_ID_BODY.parse(req.json())["callId"]
        if not calls.terminate(call_id):
            return error(404, "call not found", "callId")
        return empty()

    router.add(("GET", "POST"), "/rest-api/call/startup", startup)
    router.add(("GET", "POST"), "/rest-api/call/find", find)
    router.add(("GET", "POST"), "/rest-api/call/find_all", find_all)
    router.add(("GET", "POST"), "/rest-api/call/terminate", terminate)
