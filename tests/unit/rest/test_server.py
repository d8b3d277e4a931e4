"""The HTTP listener over real loopback sockets (ports chosen at run time)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from tests.unit.rest.client import (
    GUARD,
    HttpClient,
    parse_responses,
    raw_exchange,
    read_to_eof,
    request,
)
from wcs.rest.http import HttpServer, Request, Response, Router, empty, json_response

pytestmark = pytest.mark.asyncio

ServerFactory = Callable[..., Any]


async def echo(req: Request) -> Response:
    return json_response({"method": req.method, "body": req.json(), "query": req.query})


async def fail(req: Request) -> Response:
    raise RuntimeError("sipPassword=hunter2 leaked?")


def make_router() -> Router:
    r = Router()
    r.add(["GET", "POST"], "/echo", echo)
    r.add("POST", "/fail", fail)
    r.add("GET", "/health", lambda req: _ok(), auth=False)
    return r


async def _ok() -> Response:
    return empty()


@pytest_asyncio.fixture
async def start() -> AsyncIterator[ServerFactory]:
    servers: list[HttpServer] = []

    async def factory(router: Router | None = None, **kw: Any) -> HttpServer:
        server = HttpServer(router or make_router(), host="127.0.0.1", port=0, **kw)
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.close()


async def test_port_zero_binds_a_real_port(start: ServerFactory) -> None:
    server = await start()
    assert server.port > 0
    resp = await request(server.port, "GET", "/health")
    assert (resp.status, resp.body) == (200, b"")
    assert resp.headers["content-length"] == "0"
    assert resp.headers["access-control-allow-origin"] == "*"


async def test_json_round_trip_404_405_and_400(start: ServerFactory) -> None:
    server = await start()
    resp = await request(server.port, "POST", "/echo?x=1", body='{"callee":"1002"}')
    assert resp.status == 200
    assert resp.json() == {"method": "POST", "body": {"callee": "1002"}, "query": {"x": "1"}}
    assert (await request(server.port, "GET", "/nope")).status == 404
    resp = await request(server.port, "DELETE", "/echo")
    assert resp.status == 405
    assert "POST" in resp.headers["allow"]
    resp = await request(server.port, "POST", "/echo", body="{oops")
    assert resp.status == 400
    assert resp.json()["field"] is None


async def test_keep_alive_two_requests_on_one_connection(start: ServerFactory) -> None:
    server = await start()
    client = await HttpClient.open(server.port)
    try:
        first = await client.request("POST", "/echo", body='{"n":1}')
        second = await client.request("GET", "/echo")
        assert first.json()["body"] == {"n": 1}
        assert second.json()["body"] == {}
        assert "connection" not in first.headers  # not "close"
    finally:
        await client.close()


async def test_pipelined_requests_are_answered_in_order(start: ServerFactory) -> None:
    server = await start()
    wire = (
        b'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\n{"n":1}'
        b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
        b'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\n{"n":3}'
        b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    responses = parse_responses(await raw_exchange(server.port, wire))
    assert [r.status for r in responses] == [200, 404, 200, 200]
    assert responses[0].json()["body"] == {"n": 1}
    assert responses[2].json()["body"] == {"n": 3}
    assert responses[3].headers["connection"] == "close"


async def test_chunked_request_body(start: ServerFactory) -> None:
    server = await start()
    wire = (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b'4\r\n{"n"\r\n3\r\n:42\r\n1\r\n}\r\n0\r\n\r\n'
    )
    (resp,) = parse_responses(await raw_exchange(server.port, wire))
    assert resp.status == 200
    assert resp.json()["body"] == {"n": 42}


async def test_expect_100_continue(start: ServerFactory) -> None:
    server = await start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), GUARD)
        assert interim.startswith(b"HTTP/1.1 100 ")
        writer.write(b'{"n":5}')
        (resp,) = parse_responses(await read_to_eof(reader))
        assert resp.status == 200
        assert resp.json()["body"] == {"n": 5}
    finally:
        writer.close()


async def test_413_from_content_length_before_the_body(start: ServerFactory) -> None:
    server = await start(max_body=100)
    # Only the head is sent: the server must answer without waiting for the body.
    wire = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n"
    (resp,) = parse_responses(await raw_exchange(server.port, wire))
    assert resp.status == 413
    assert resp.headers["connection"] == "close"
    assert resp.headers["access-control-allow-origin"] == "*"
    assert resp.json()["error"]


async def test_413_while_counting_a_chunked_body(start: ServerFactory) -> None:
    server = await start(max_body=100)
    chunk = b"40\r\n" + b"x" * 64 + b"\r\n"
    wire = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 4
    (resp,) = parse_responses(await raw_exchange(server.port, wire))
    assert resp.status == 413


async def test_body_at_the_limit_is_accepted(start: ServerFactory) -> None:
    server = await start(max_body=20)
    body = '{"a":"' + "x" * 12 + '"}'
    assert len(body) == 20
    assert (await request(server.port, "POST", "/echo", body=body)).status == 200


async def test_431_on_huge_headers(start: ServerFactory) -> None:
    server = await start(max_header=4096)
    wire = b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n"
    (resp,) = parse_responses(await raw_exchange(server.port, wire))
    assert resp.status == 431


async def test_malformed_http_gets_400_and_close(start: ServerFactory) -> None:
    server = await start()
    (resp,) = parse_responses(await raw_exchange(server.port, b"HELLO THERE\r\n\r\n"))
    assert resp.status == 400
    assert resp.headers["connection"] == "close"
    wire = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n"
    (resp,) = parse_responses(await raw_exchange(server.port, wire))
    assert resp.status == 400


async def test_408_for_a_slow_request_head(start: ServerFactory) -> None:
    server = await start(request_timeout=0.2, idle_timeout=30.0)
    data = await raw_exchange(server.port, b"GET /echo HTTP/1.1\r\nHost: t\r\n")
    (resp,) = parse_responses(data)
    assert resp.status == 408


async def test_408_for_a_slow_body(start: ServerFactory) -> None:
    server = await start(request_timeout=0.2, idle_timeout=30.0)
    wire = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n{}"
    (resp,) = parse_responses(await raw_exchange(server.port, wire))
    assert resp.status == 408


async def test_idle_keep_alive_connection_is_closed_silently(start: ServerFactory) -> None:
    server = await start(idle_timeout=0.2, request_timeout=30.0)
    client = await HttpClient.open(server.port)
    try:
        assert (await client.request("GET", "/health")).status == 200
        # Nothing more is sent: the server ends the connection without a response.
        assert await read_to_eof(client.reader) == b""
    finally:
        await client.close()
    # A connection that never sends anything gets no 408 either, just the close.
    assert await raw_exchange(server.port, b"") == b""


async def test_slow_client_does_not_block_others(start: ServerFactory) -> None:
    server = await start(request_timeout=30.0)
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n{")
        await writer.drain()
        assert (await request(server.port, "GET", "/health")).status == 200
    finally:
        writer.close()


async def test_hundred_parallel_connections_are_served_concurrently(
    start: ServerFactory,
) -> None:
    n = 100
    arrived = 0
    all_here = asyncio.Event()

    async def barrier(req: Request) -> Response:
        # Every handler waits until all n requests are inside: only possible when
        # connections are served concurrently.
        nonlocal arrived
        arrived += 1
        if arrived == n:
            all_here.set()
        await all_here.wait()
        return json_response({"i": req.query["i"]})

    router = Router()
    router.add("GET", "/barrier", barrier)
    server = await start(router)
    results = await asyncio.wait_for(
        asyncio.gather(*(request(server.port, "GET", f"/barrier?i={i}") for i in range(n))),
        timeout=30,
    )
    assert [r.json()["i"] for r in results] == [str(i) for i in range(n)]


async def test_handler_exception_is_generic_500_and_logged(
    start: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start()
    with caplog.at_level(logging.DEBUG, logger="wcs.rest"):
        resp = await request(server.port, "POST", "/fail", body="{}")
    assert resp.status == 500
    assert resp.json() == {"error": "internal server error", "field": None}
    assert b"hunter2" not in resp.body
    assert any(r.exc_info for r in caplog.records)


async def test_access_log_has_status_but_never_bodies_or_tokens(
    start: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start(auth="token:TOPSECRET")
    with caplog.at_level(logging.DEBUG, logger="wcs.rest"):
        ok = await request(
            server.port, "POST", "/echo?token=TOPSECRET", body='{"sipPassword":"hunter2"}'
        )
        denied = await request(server.port, "POST", "/echo?token=WRONG", body="{}")
    assert ok.status == 200
    assert "TOPSECRET" not in ok.body.decode()
    assert denied.status == 401
    assert denied.headers["www-authenticate"].startswith("Bearer")
    access = [r.getMessage() for r in caplog.records if r.name == "wcs.rest.access"]
    assert any("POST /echo 200" in line for line in access)
    assert any("POST /echo 401" in line for line in access)
    assert "hunter2" not in caplog.text
    assert "TOPSECRET" not in caplog.text
    assert "WRONG" not in caplog.text


async def test_auth_header_and_opt_out_over_the_wire(start: ServerFactory) -> None:
    server = await start(auth="token:TOPSECRET")
    assert (await request(server.port, "GET", "/health")).status == 200
    assert (await request(server.port, "GET", "/echo")).status == 401
    auth = [("authorization", "Bearer TOPSECRET")]
    assert (await request(server.port, "GET", "/echo", headers=auth)).status == 200
    resp = await request(server.port, "OPTIONS", "/echo")
    assert resp.status == 204
    assert "authorization" in resp.headers["access-control-allow-headers"]


async def test_http10_and_connection_close_end_the_connection(start: ServerFactory) -> None:
    server = await start()
    data = await raw_exchange(server.port, b"GET /health HTTP/1.0\r\n\r\n")
    (resp,) = parse_responses(data)
    assert resp.status == 200


async def test_close_ends_open_connections(start: ServerFactory) -> None:
    server = await start(idle_timeout=60.0)
    client = await HttpClient.open(server.port)
    try:
        assert (await client.request("GET", "/health")).status == 200
        assert server.connection_count == 1
        await server.close()
        assert await read_to_eof(client.reader) == b""
        assert server.connection_count == 0
    finally:
        await client.close()
    with pytest.raises(OSError):
        await request(server.port, "GET", "/health")


async def test_head_gets_headers_without_a_body(start: ServerFactory) -> None:
    router = Router()
    router.add(["GET", "HEAD"], "/x", echo)
    server = await start(router)
    wire = b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n"
    wire += b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    data = await raw_exchange(server.port, wire)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"content-length: " in head
    assert rest.startswith(b"HTTP/1.1 404 ")  # /health is not in this router: no body bled in
    assert rest.endswith(b'"query":{}}')


async def test_non_ascii_token_in_header_and_query(start: ServerFactory) -> None:
    server = await start(auth="token:s\u00e9cret")
    raw_header = "Bearer s\u00e9cret".encode()  # UTF-8 bytes on the wire
    ok = await request(server.port, "GET", "/echo", headers=[("authorization", raw_header)])
    assert ok.status == 200
    assert (await request(server.port, "GET", "/echo?token=s%C3%A9cret")).status == 200
    assert (await request(server.port, "GET", "/echo?token=secret")).status == 401


async def test_head_is_answered_like_get_where_only_get_is_routed(start: ServerFactory) -> None:
    """Issue 18: HEAD got 405 on GET routes; RFC 9110 §9.3.2 wants GET without the body."""
    server = await start()
    wire = b"HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\n"
    wire += b"POST /fail HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    data = await raw_exchange(server.port, wire)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: " in head
    assert rest.startswith(b"HTTP/1.1 500 ")  # the next answer follows at once: no body
    only_post = await raw_exchange(
        server.port, b"HEAD /fail HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    assert only_post.startswith(b"HTTP/1.1 405 ")  # no GET there: still not allowed


@pytest.mark.parametrize("version", [b"HTTP/9.9", b"HTTP/2.0", b"HTTP/0.9"])
async def test_unknown_http_version_gets_505(start: ServerFactory, version: bytes) -> None:
    server = await start()
    data = await raw_exchange(server.port, b"GET /echo " + version + b"\r\nHost: t\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 505 "), data[:80]


async def test_requests_over_the_rate_get_429_with_retry_after(start: ServerFactory) -> None:
    from wcs.limits import RateLimit

    server = await start(rate=RateLimit("test_rest_rate", rate=0.001, burst=3))
    client = await HttpClient.open(server.port)
    try:
        statuses = [(await client.request("GET", "/health")).status for _ in range(3)]
        refused = await client.request("GET", "/health")
    finally:
        await client.close()
    assert statuses == [200, 200, 200]
    assert refused.status == 429 and refused.headers["retry-after"] == "1000"
    assert "too many requests" in refused.json()["error"]


async def test_connections_over_the_limit_get_503_and_others_still_work(
    start: ServerFactory,
) -> None:
    from wcs.limits import Quota

    quota = Quota("test_http_conns", total=2, per_key=0)
    server = await start(quota=quota, idle_timeout=60.0)
    held = [await HttpClient.open(server.port) for _ in range(2)]
    try:
        for c in held:
            assert (await c.request("GET", "/health")).status == 200
        refused = await raw_exchange(server.port, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        assert refused.startswith(b"HTTP/1.1 503 ") and b"too many connections" in refused
    finally:
        for c in held:
            await c.close()
    for _ in range(100):  # the server sees the closes
        if quota.used == 0:
            break
        await asyncio.sleep(0.02)
    assert quota.used == 0
    assert (await request(server.port, "GET", "/health")).status == 200
