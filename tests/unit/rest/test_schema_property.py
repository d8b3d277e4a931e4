"""The request schemas against the real handlers, in-process (a Server built, never started:
real managers and router, no sockets for HTTP or SIP, no peers).

For every body the OpenAPI document declares, hypothesis generates bodies valid against its
schema: none may get a 5xx, and a 400 must name a field the operation lists in
``x-refusals`` (the documented reasons a schema-valid body is still refused). After each
request the ``find_all`` listings must still render (issue 18: a lone surrogate in a stored
field made them answer 500 for everyone).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis_jsonschema import from_schema

from tests.fixtures.ports import free_port, free_port_range
from wcs.config import load_settings
from wcs.rest.auth import Authenticator
from wcs.rest.dispatch import Dispatcher
from wcs.rest.message import Request, Response
from wcs.rest.openapi import full_document
from wcs.server import Server

LISTINGS = ("call/find_all", "stream/find_all", "push/find_all", "recorder/find_all")
DOC = full_document()
SCHEMAS = DOC["components"]["schemas"]


def deref(node: Any) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            return deref(SCHEMAS[ref.rsplit("/", 1)[1]])
        return {k: deref(v) for k, v in node.items()}
    if isinstance(node, list):
        return [deref(v) for v in node]
    return node


def body_operations() -> list[str]:
    out = []
    for path, item in DOC["paths"].items():
        if "application/json" in item.get("post", {}).get("requestBody", {}).get("content", {}):
            out.append(path)
    return out


class App:
    """The real Server's router and managers on a private event loop."""

    def __init__(self, tmp: Path) -> None:
        media = free_port_range(40)
        self.loop = asyncio.new_event_loop()
        s = load_settings(env={}, overrides={
            "bind_ip": "127.0.0.1", "public_ip": "127.0.0.1", "http_port": free_port(),
            "ws_port": free_port(), "hls_port": 0, "rtsp_port": 0, "sip_port": free_port(),
            "media_port_from": media,
            "media_port_to": media + 39,
            "record_dir": str(tmp / "records"), "sounds_dir": str(tmp), "log_level": "WARNING",
        })  # fmt: skip
        self.server = self.loop.run_until_complete(self._build(s))
        self.dispatch = Dispatcher(self.server.router, Authenticator(None))

    @staticmethod
    async def _build(s: Any) -> Server:
        return Server(s)

    def post(self, path: str, body: Any) -> Response:
        req = Request("POST", path, body=json.dumps(body).encode())
        return self.loop.run_until_complete(self.dispatch.handle(req))

    def cleanup(self) -> None:
        async def hang_up() -> None:  # on the loop: the SIP side wakes its timers there
            for call in self.server.calls.all():
                self.server.calls.terminate(call.call_id)

        self.loop.run_until_complete(hang_up())

    def close(self) -> None:
        self.cleanup()
        self.loop.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    a = App(tmp_path_factory.mktemp("schema"))
    yield a
    a.close()


def sanitize(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Calls go nowhere: sipDomain on loopback (still schema-valid); no proxy, no register,
    UDP (the SIP transport is not started, so it could not open a TCP connection)."""
    body = dict(body)
    if path.endswith("/call/startup"):
        body["sipDomain"] = "127.0.0.1"
        body.pop("sipOutboundProxy", None)
        body["sipRegisterRequired"] = False
        body["sipTransport"] = "UDP"
    return body


def field_of(resp: Response) -> str | None:
    answer = json.loads(resp.body)
    field: str | None = answer.get("field")
    return field


@pytest.mark.parametrize("path", body_operations())
def test_schema_valid_bodies_are_refused_only_as_documented(app: App, path: str) -> None:
    op = DOC["paths"][path]["post"]
    schema = deref(op["requestBody"]["content"]["application/json"]["schema"])
    refusals = set(op.get("x-refusals", {}))

    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(body=from_schema(schema))
    def run(body: dict[str, Any]) -> None:
        body = sanitize(path, body)
        jsonschema.validate(body, schema)  # sanitizing kept it valid
        resp = app.post(path, body)
        assert resp.status < 500, (body, resp.body)
        if resp.status == 400:
            assert field_of(resp) in refusals, f"undocumented 400 {resp.body!r} for {body!r}"
        for listing in LISTINGS:
            assert app.post(f"/rest-api/{listing}", {}).status in (200, 404)
        app.cleanup()

    run()


def test_every_body_operation_is_covered() -> None:
    paths = body_operations()
    for name in ("call/startup", "push/startup", "recorder/startup", "stream/find"):
        assert f"/rest-api/{name}" in paths


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("callee", "sip:"),
        ("callee", "sip:@x"),
        ("sipDomain", "[::1"),
        ("sipDomain", ":"),
        ("sipOutboundProxy", "[::1"),
        ("sipOutboundProxy", "sip:"),
        ("sipOutboundProxy", ":"),
    ],
)
def test_sip_uris_the_sip_parser_refuses_are_400_naming_the_field(
    app: App, field: str, value: str
) -> None:
    call_id = f"sip-{field}-{value}"
    body = {"callId": call_id, "callee": "bob", "sipLogin": "alice", "sipDomain": "127.0.0.1"}
    body[field] = value
    resp = app.post("/rest-api/call/startup", body)
    assert resp.status == 400 and field_of(resp) == field, resp.body
    assert app.server.calls.get(call_id) is None  # refused before anything was allocated


CALL = {"callId": "c1", "callee": "bob", "sipLogin": "alice", "sipDomain": "127.0.0.1"}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("call/startup", {**CALL, "callee": "bob\ud800"}, "callee"),
        ("call/startup", {**CALL, "toStream": "s\ud800"}, "toStream"),
        ("call/startup", {**CALL, "appKey": "k\x01"}, "appKey"),
        ("call/startup", {**CALL, "visibleName": "v\ud800"}, "visibleName"),
        ("call/startup", {**CALL, "rtmpStream": "r\n"}, "rtmpStream"),
        ("call/startup", {**CALL, "custom": {"k": "\ud800"}}, "custom"),
        ("call/startup", {**CALL, "custom": {"\udfff": 1}}, "custom"),
        ("call/find", {"callId": "\ud800"}, "callId"),
        ("call/terminate", {"callId": "x\x00"}, "callId"),
        ("stream/find", {"name": "\ud800"}, "name"),
        ("stream/find", {"mediaSessionIds": ["\ud800"]}, "mediaSessionIds"),
        ("push/startup", {"streamName": "s\ud800", "rtmpUrl": "rtmp://h/a"}, "streamName"),
        ("push/startup", {"streamName": "s", "rtmpUrl": "rtmp://h/a\ud800"}, "rtmpUrl"),
        ("push/startup", {"streamName": "s", "rtmpUrl": "rtmp://"}, "rtmpUrl"),
        ("push/startup", {"streamName": "s", "rtmpUrl": "rtmp://h/a",
                          "options": {"action": "\ud800"}}, "options"),
        ("push/find", {"streamName": "\x7f"}, "streamName"),
        ("recorder/startup", {"streamName": "\ud800"}, "streamName"),
        ("recorder/startup", {"streamName": "s", "config": {"rotation": "\x1b"}},
         "config.rotation"),
    ],
)  # fmt: skip
def test_control_characters_and_lone_surrogates_are_400_naming_the_field(
    app: App, path: str, body: dict[str, Any], field: str
) -> None:
    resp = app.post(f"/rest-api/{path}", body)
    assert resp.status == 400 and field_of(resp) == field, resp.body
    for listing in LISTINGS:
        assert app.post(f"/rest-api/{listing}", {}).status in (200, 404)


def test_sips_callee_needs_tls_and_tls_defaults_to_5061(app: App) -> None:
    resp = app.post("/rest-api/call/startup", {**CALL, "callee": "sips:bob@127.0.0.1"})
    assert resp.status == 400 and field_of(resp) == "callee", resp.body
    assert app.server.calls.get("c1") is None
    tls = {**CALL, "callId": "t1", "callee": "sips:bob@127.0.0.1", "sipTransport": "TLS"}
    assert app.post("/rest-api/call/startup", tls).status == 200
    call = app.server.calls.get("t1")
    assert call is not None and call.request.account.port == 5061
    found = app.post("/rest-api/call/find", {"callId": "t1"})
    assert found.status == 200, found.body
    [shown] = json.loads(found.body)
    assert shown["sipTransport"] == "TLS" and "srtpProfile" in shown
