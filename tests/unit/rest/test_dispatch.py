"""Routing, preflight, auth and error mapping without sockets."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import pytest

from wcs.rest.auth import Authenticator
from wcs.rest.dispatch import Dispatcher
from wcs.rest.http import (
    BadRequest,
    Headers,
    HttpError,
    Request,
    Response,
    Router,
    empty,
    json_response,
)


async def echo(req: Request) -> Response:
    return json_response({"body": req.json(), "query": req.query, "params": req.path_params})


async def void(req: Request) -> Response:
    return empty()


async def bad(req: Request) -> Response:
    req.params().int("sipPort", required=True)
    return empty()


async def dup(req: Request) -> Response:
    raise HttpError(409, "duplicate callId", "callId")


async def boom(req: Request) -> Response:
    raise RuntimeError("internal detail sipPassword=hunter2")


def make(auth: str = "") -> Dispatcher:
    r = Router()
    r.add(["GET", "POST"], "/rest-api/call/find_all", echo)
    r.add("POST", "/rest-api/call/terminate", void)
    r.add("POST", "/bad", bad)
    r.add("POST", "/dup", dup)
    r.add("POST", "/boom", boom)
    r.add("GET", "/health", void, auth=False)
    r.add(["GET", "DELETE"], "/whep/{stream}", echo)
    return Dispatcher(r, Authenticator(auth), "*")


def call(d: Dispatcher, method: str, path: str, body: bytes = b"", **kw: Any) -> Response:
    headers = Headers(kw.pop("headers", None))
    req = Request(method, path, kw.pop("query", {}), headers, body, ("127.0.0.1", 1))
    return asyncio.run(d.handle(req))


def body(resp: Response) -> Any:
    return json.loads(resp.body)


def test_routes_exact_and_pattern() -> None:
    d = make()
    resp = call(d, "GET", "/rest-api/call/find_all")
    assert resp.status == 200
    assert body(resp)["body"] == {}  # GET without a body, as the WebSDK rest helper sends
    resp = call(d, "DELETE", "/whep/my%20stream")
    assert body(resp)["params"] == {"stream": "my stream"}
    assert call(d, "GET", "/whep/").status == 404
    assert call(d, "GET", "/whep/a/b").status == 404


def test_unknown_path_404_and_wrong_method_405_with_allow() -> None:
    d = make()
    resp = call(d, "POST", "/rest-api/nope")
    assert resp.status == 404
    assert body(resp) == {"error": "not found", "field": None}
    resp = call(d, "GET", "/rest-api/call/terminate")
    assert resp.status == 405
    assert resp.headers["allow"] == "POST, OPTIONS"


def test_void_method_is_200_with_empty_body() -> None:
    resp = call(make(), "POST", "/rest-api/call/terminate", b'{"callId":"x"}')
    assert (resp.status, resp.body) == (200, b"")


def test_bad_json_and_bad_fields_are_400_naming_the_field() -> None:
    d = make()
    resp = call(d, "POST", "/rest-api/call/find_all", b"{nope")
    assert resp.status == 400
    assert body(resp)["field"] is None
    assert "invalid JSON" in body(resp)["error"]
    resp = call(d, "POST", "/rest-api/call/find_all", b"[1]")
    assert resp.status == 400
    resp = call(d, "POST", "/bad", b'{"sipPort":"abc"}')
    assert resp.status == 400
    assert body(resp)["field"] == "sipPort"
    resp = call(d, "POST", "/bad", b"{}")
    assert body(resp)["field"] == "sipPort"


def test_http_error_keeps_its_status() -> None:
    resp = call(make(), "POST", "/dup")
    assert resp.status == 409
    assert body(resp) == {"error": "duplicate callId", "field": "callId"}


def test_handler_bug_is_a_generic_500_logged_with_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="wcs.rest"):
        resp = call(make(), "POST", "/boom")
    assert resp.status == 500
    assert body(resp) == {"error": "internal server error", "field": None}
    assert b"hunter2" not in resp.body
    failures = [r for r in caplog.records if r.exc_info]
    assert failures, "the bug must be logged with its traceback"


def test_every_answer_carries_cors_origin() -> None:
    d = make("token:s3cret")
    for method, path in [
        ("GET", "/health"),
        ("GET", "/nope"),
        ("PUT", "/health"),
        ("POST", "/rest-api/call/terminate"),  # 401
        ("POST", "/boom"),
    ]:
        resp = call(d, method, path)
        assert resp.headers.get("access-control-allow-origin") == "*", (method, path)


def test_preflight_on_known_path_without_auth() -> None:
    d = make("token:s3cret")
    resp = call(d, "OPTIONS", "/rest-api/call/terminate")
    assert resp.status == 204
    methods = resp.headers["access-control-allow-methods"]
    for m in ("POST", "GET", "OPTIONS", "DELETE", "PATCH"):
        assert m in methods
    allow_headers = resp.headers["access-control-allow-headers"]
    for h in ("content-type", "x-requested-with", "authorization"):
        assert h in allow_headers
    assert call(d, "OPTIONS", "/unknown").status == 404


def test_token_auth_header_x_auth_token_and_query() -> None:
    d = make("token:s3cret")
    path = "/rest-api/call/find_all"
    resp = call(d, "GET", path)
    assert resp.status == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert b"s3cret" not in resp.body
    assert call(d, "GET", path, headers={"Authorization": "Bearer wrong"}).status == 401
    assert call(d, "GET", path, headers={"Authorization": "Bearer s3cret"}).status == 200
    assert call(d, "GET", path, headers={"X-Auth-Token": "s3cret"}).status == 200
    resp = call(d, "GET", path, query={"token": "s3cret", "a": "1"})
    assert resp.status == 200
    assert body(resp)["query"] == {"a": "1"}  # the token is not handed to the handler
    assert call(d, "GET", path, query={"token": "s3cre"}).status == 401


def test_basic_auth() -> None:
    d = make("basic:admin:pa:ss")  # passwords may contain ':'
    path = "/rest-api/call/find_all"

    def basic(user: str, pw: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}

    resp = call(d, "GET", path)
    assert resp.status == 401
    assert resp.headers["www-authenticate"].startswith("Basic")
    assert call(d, "GET", path, headers=basic("admin", "pa:ss")).status == 200
    assert call(d, "GET", path, headers=basic("admin", "pa:sx")).status == 401
    assert call(d, "GET", path, headers=basic("root", "pa:ss")).status == 401
    assert call(d, "GET", path, headers={"Authorization": "Basic !!notbase64"}).status == 401
    assert call(d, "GET", path, headers={"Authorization": "Bearer pa:ss"}).status == 401


def test_opt_out_route_needs_no_auth() -> None:
    d = make("basic:admin:pw")
    assert call(d, "GET", "/health").status == 200
    assert call(d, "POST", "/rest-api/call/terminate").status == 401


def test_bad_auth_spec_does_not_echo_the_secret() -> None:
    with pytest.raises(ValueError) as info:
        Authenticator("bogus:topsecret")
    assert "topsecret" not in str(info.value)
    assert "s3cret" not in repr(Authenticator("token:s3cret"))


def test_router_rejects_duplicates_and_relative_paths() -> None:
    r = Router()
    r.add("GET", "/a", void)
    with pytest.raises(ValueError):
        r.add("get", "/a", void)
    with pytest.raises(ValueError):
        r.add("GET", "a", void)


def test_bad_request_from_handler_code_path() -> None:
    err = BadRequest("callee", "missing")
    assert (err.status, err.field, err.message) == (400, "callee", "missing")
