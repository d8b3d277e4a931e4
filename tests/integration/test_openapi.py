"""The OpenAPI document against the real handlers: every path and method in it gets
generated requests (valid bodies from its schemas, wrong types, junk); no answer may be a
5xx, use an undocumented status, or carry a body that disagrees with the documented schema;
a 400 for a body valid against the request schema must name a field the operation lists in
``x-refusals``.
The document must also cover every route the server mounts."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.openapi import deref, json_strategy
from tests.server_thread import ServerThread
from wcs.web import FILES as WEB_PAGE_FILES

# Served by the server but not part of the API (the built-in page's files).
NOT_API = set(WEB_PAGE_FILES)
MAX_BODY = 4096


@pytest.fixture(scope="module")
def sink() -> Iterator[int]:
    """A UDP port that swallows SIP: generated calls go there and never leave the host."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    # rest_rate_limit off: the property tests send faster than 100 requests/s from one
    # address and would test the limiter (tests/integration/test_limits.py does) with 429s.
    srv = ServerThread(
        tmp_path_factory.mktemp("openapi"), rest_max_body=MAX_BODY, rest_rate_limit=0
    ).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def document(server: ServerThread) -> dict[str, Any]:
    status, headers, body = server.request("GET", "/rest-api/openapi.json")
    assert status == 200 and headers["content-type"].startswith("application/json")
    doc: dict[str, Any] = json.loads(body)
    assert doc["openapi"].startswith("3.")
    return doc


def operations() -> list[tuple[str, str]]:
    from wcs.rest.openapi import full_document

    return [(p, m) for p, item in full_document()["paths"].items() for m in item]


def test_document_covers_every_mounted_route(server: ServerThread, document: dict) -> None:
    assert server.server is not None
    mounted = server.server.router.methods_by_path()
    for path, methods in mounted.items():
        if path in NOT_API:
            continue
        assert path in document["paths"], f"{path} is served but not documented"
        for m in methods:
            assert m.lower() in document["paths"][path], f"{m} {path} not documented"
    for path in document["paths"]:
        assert path in mounted, f"{path} is documented but not served"
    # Every mounted API area is there: calls, streams, push, recorder, WHEP, operations.
    for path in (
        "/rest-api/call/startup",
        "/rest-api/stream/find",
        "/rest-api/push/startup",
        "/rest-api/recorder/startup",
        "/whep/{stream}",
        "/whip/{stream}",
        "/health",
        "/metrics",
    ):
        assert path in document["paths"]


def sanitize(path: str, body: Any, sink: int) -> Any:
    """Generated calls and pushes must not reach other hosts: point them at loopback."""
    if not isinstance(body, dict):
        return body
    body = dict(body)
    if path.endswith("/call/startup"):
        if body.get("sipDomain") or body.get("sipOutboundProxy") or body.get("callee") != "demo":
            body["sipDomain"] = "127.0.0.1"
            body.pop("sipOutboundProxy", None)
            body["sipPort"] = sink
        if "rtmpUrl" in body:
            body["rtmpUrl"] = f"rtmp://127.0.0.1:{sink}/live"
    if path.endswith("/push/startup") and "rtmpUrl" in body:
        body["rtmpUrl"] = f"rtmp://127.0.0.1:{sink}/live/x"
    return body


def check(doc: dict[str, Any], op: dict[str, Any], status: int, headers: dict[str, str],
          body: bytes, what: str) -> None:  # fmt: skip
    assert status < 500, f"{what}: {status} {body[:300]!r}"
    responses = op["responses"]
    assert str(status) in responses, f"{what}: undocumented status {status} {body[:300]!r}"
    content = responses[str(status)].get("content")
    if not content:
        assert body == b"", f"{what}: {status} should have no body, got {body[:200]!r}"
        return
    ctype = headers.get("content-type", headers.get("Content-Type", "")).split(";")[0]
    assert ctype in content, f"{what}: content-type {ctype} not in {list(content)}"
    if ctype == "application/json":
        schema = deref(content[ctype]["schema"], doc["components"]["schemas"])
        try:
            jsonschema.validate(json.loads(body), schema)
        except jsonschema.ValidationError as exc:
            raise AssertionError(f"{what}: {status} body disagrees: {exc.message}") from None


def schema_valid(op: dict[str, Any], schemas: dict[str, Any], raw: bytes) -> bool:
    """Whether ``raw`` is a JSON body the operation's request schema accepts."""
    spec = op.get("requestBody", {}).get("content", {}).get("application/json")
    if spec is None:
        return False
    try:
        jsonschema.validate(json.loads(raw), deref(spec["schema"], schemas))
    except (ValueError, jsonschema.ValidationError):
        return False
    return True


@pytest.mark.parametrize(("path", "method"), operations())
def test_operation_agrees_with_the_document(
    server: ServerThread, document: dict[str, Any], sink: int, path: str, method: str
) -> None:
    op = document["paths"][path][method]
    schemas = document["components"]["schemas"]
    what = f"{method.upper()} {path}"

    if path.startswith(("/whep/", "/whip/")):
        prefix = path.split("/")[1]
        names = st.sampled_from(["nosuch", "x y", "%2F", "a" * 50])
        if method == "post":
            bodies = st.text(max_size=200).map(str.encode) | st.just(b"v=0\r\n")
            ctypes = st.sampled_from(["application/sdp", "text/plain", "application/json"])

            @settings(max_examples=25, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(name=names, body=bodies, ctype=ctypes)
            def run_whep(name: str, body: bytes, ctype: str) -> None:
                url = f"/{prefix}/{name}".replace(" ", "%20")
                status, headers, out = server.request("POST", url, body, ctype)
                check(document, op, status, headers, out, what)

            run_whep()
        else:
            status, headers, out = server.request(method.upper(), f"/{prefix}/nosuch/abc")
            check(document, op, status, headers, out, what)
        return

    if not path.startswith("/rest-api/") or path.endswith("openapi.json"):
        status, headers, out = server.request(method.upper(), path)
        check(document, op, status, headers, out, what)
        return

    @settings(max_examples=30, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(raw=json_strategy(op, schemas))
    def run(raw: bytes) -> None:
        try:
            body = sanitize(path, json.loads(raw), sink)
            raw = json.dumps(body).encode()
        except ValueError:
            pass
        status, headers, out = server.request(method.upper(), path, raw)
        check(document, op, status, headers, out, what)
        if status == 400 and schema_valid(op, schemas, raw):
            # A body the schema accepts is refused only for a reason the operation lists.
            field = json.loads(out).get("field")
            refusals = op.get("x-refusals", {})
            assert field in refusals, f"{what}: undocumented 400 {out[:300]!r} for {raw[:300]!r}"

    run()
    # An oversized body: 413, documented.
    status, headers, out = server.request(method.upper(), path, b" " * (MAX_BODY + 1))
    check(document, op, status, headers, out, what)
    assert status == 413


def test_demo_call_through_documented_operations(
    server: ServerThread, document: dict[str, Any]
) -> None:
    """The success answers too: a demo call is found, its stream listed, then hung up."""
    ops = document["paths"]
    status, _ = server.rest("call/startup", {"callId": "openapi-demo", "callee": "demo",
                                             "toStream": "openapi-demo"})  # fmt: skip
    assert status == 200
    status, headers, out = server.request("POST", "/rest-api/call/find",
                                          b'{"callId": "openapi-demo"}')  # fmt: skip
    check(document, ops["/rest-api/call/find"]["post"], status, headers, out, "find")
    assert status == 200
    status, headers, out = server.request("POST", "/rest-api/call/find_all", b"{}")
    check(document, ops["/rest-api/call/find_all"]["post"], status, headers, out, "find_all")
    assert status == 200
    status, _ = server.rest("call/terminate", {"callId": "openapi-demo"})
    assert status == 200


def test_generated_calls_cleaned_up(server: ServerThread) -> None:
    """Not a check of the document: hang up what the generated requests started."""
    assert server.server is not None
    calls = server.call(lambda: [c.call_id for c in server.server.calls.all()])  # type: ignore[union-attr]
    for call_id in calls:
        server.rest("call/terminate", {"callId": call_id})
