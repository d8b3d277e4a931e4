"""Soak, REST part: requests built from the server's own OpenAPI document (``bench.soak``).

For every operation a pool of bodies is generated once with hypothesis-jsonschema (schema-
valid bodies, the right field names with values of any type, junk; seeded). Each request
then takes a pool body and, drawn from a seeded ``random.Random``, may replace values by
hostile ones (lone surrogates, control characters, huge numbers, unparseable URIs), drop or
add fields, or send raw junk, a wrong method or an unknown path. Every answer is counted by
status; a 5xx, a connection closed without an answer, and an answer that takes longer than
``TIMEOUT`` (a hang) are findings.

Nothing leaves loopback: calls go to a SIP sink that rejects them (``BusySink``), RTMP URLs
point at a closed port, and the operations that could stop the live call's stream or viewer
(``stream/terminate`` with a filter that matches it, ``call/terminate`` of its callId) are
aimed elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.fixtures.openapi import json_strategy

TIMEOUT = 10.0
WORKERS = 4
NASTY: list[Any] = [
    "\ud800", "a\udfffb", "\x00", "x\x1by", "\u202e", "a" * 5000, "", " ", "sip:", "sip:@x",
    "[::1", ":", "sip:@@:::99999999", "rtmp://", "%00", "../../etc/passwd", "demo", -1, 0,
    2**70, -(2**70), 1e308, 0.5, None, True, [], {}, ["\ud800"], {"a": "\ud800"},
]  # fmt: skip
# Values that name no host: kept as they are in host fields (they reach the URI parser).
NO_HOST = {v for v in NASTY if isinstance(v, str) and not v.replace(".", "").isalnum()}


@dataclass
class Target:
    """What the REST fuzzer aims at and must not touch."""

    host: str
    port: int
    sink_port: int  # SIP sink (UDP); nothing listens on TCP there
    live_call: str
    live_stream: str


@dataclass
class RestSoak:
    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)  # 5xx: first ones, abridged
    no_answer: int = 0  # connection closed or reset without an answer
    hangs: int = 0  # no answer within TIMEOUT
    calls_started: int = 0

    def count_5xx(self) -> int:
        return sum(n for s, n in self.by_status.items() if s >= 500)


def pools(doc: dict[str, Any], per_op: int, seed_value: int) -> dict[tuple[str, str], list[bytes]]:
    """(method, path) -> generated raw bodies, for every REST operation of the document."""
    schemas = doc["components"]["schemas"]
    out: dict[tuple[str, str], list[bytes]] = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if not path.startswith("/rest-api/") or path.endswith("openapi.json"):
                continue
            out[(method.upper(), path)] = _draw(json_strategy(op, schemas), per_op, seed_value)
    return out


def _draw(strategy: st.SearchStrategy[bytes], n: int, seed_value: int) -> list[bytes]:
    got: list[bytes] = []

    @seed(seed_value)
    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def collect(raw: bytes) -> None:
        got.append(raw)

    collect()
    return got


def build_request(
    rng: random.Random, pool: dict[tuple[str, str], list[bytes]], t: Target
) -> tuple[str, str, bytes, str]:
    """(method, path, body, content type) of one request."""
    roll = rng.random()
    if roll < 0.04:  # not an operation of the document, or not its method
        method = rng.choice(["HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "GET", "POST"])
        path = rng.choice(["/rest-api/nosuch", "/rest-api/", "/whep/x/y/z", "/%ff", "/"
                           "rest-api/call/startup/x", "/health?x=\ud800".encode(
                               "utf-8", "surrogatepass").decode("latin-1")])  # fmt: skip
        return method, path, rng.randbytes(rng.randint(0, 30)), "application/json"
    if roll < 0.08:  # WHEP with junk
        name = rng.choice(["nosuch", t.live_stream + "x", "%2F", "a" * 300])
        return "POST", f"/whep/{name}", rng.randbytes(rng.randint(0, 200)), "application/sdp"
    (method, path), bodies = rng.choice(sorted(pool.items()))
    raw = rng.choice(bodies)
    try:
        body = json.loads(raw)
    except ValueError:
        return method, path, raw, "application/json"
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        body = _mutate(rng, body)
    body = _aim(path, body, t)
    ctype = "application/json" if rng.random() < 0.97 else "text/plain"
    return method, path, json.dumps(body).encode(), ctype


def _mutate(rng: random.Random, body: Any) -> Any:
    if not isinstance(body, dict) or rng.random() < 0.05:
        return rng.choice([body, [body], rng.choice(NASTY)])
    body = dict(body)
    op = rng.random()
    if body and op < 0.6:
        body[rng.choice(sorted(body))] = rng.choice(NASTY)
    elif body and op < 0.8:
        del body[rng.choice(sorted(body))]
    else:
        body[rng.choice(["x", "callId", "name", "streamName", "\ud800"])] = rng.choice(NASTY)
    return body


def _aim(path: str, body: Any, t: Target) -> Any:
    """Keep a request on loopback and away from the live call (see the module docstring)."""
    if not isinstance(body, dict):
        return body
    body = dict(body)
    if path.endswith("/call/startup"):
        for key in ("sipDomain", "sipOutboundProxy"):
            if body.get(key) not in NO_HOST:
                body.pop(key, None)
        if "sipDomain" not in body:
            body["sipDomain"] = "127.0.0.1"
        if not isinstance(body.get("sipPort"), str):
            body["sipPort"] = t.sink_port
        callee = body.get("callee")
        if isinstance(callee, str) and callee not in NO_HOST and ("@" in callee or ":" in callee):
            body["callee"] = "soak"
    for key in ("rtmpUrl", "rtmpTransponderFullUrl"):
        if key in body and body[key] not in NO_HOST:
            body[key] = f"rtmp://127.0.0.1:{t.sink_port}/live"
    if body.get("callId") == t.live_call:
        body["callId"] = "soak-other"
    if path.endswith("/stream/terminate") and body.get("name") in (None, t.live_stream):
        body["name"] = "soak-absent"
    return body


class _Conn:
    """One keep-alive HTTP/1.1 connection (reopened when the server closes it)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes, ctype: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode("latin-1") + body)
        status_line = await self.reader.readuntil(b"\r\n\r\n")
        lines = status_line.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])
        }
        length = int(headers.get("content-length", "0") or 0)
        data = b"" if method == "HEAD" else await self.reader.readexactly(length)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def fuzz_rest(
    t: Target, count: int, pool: dict[tuple[str, str], list[bytes]], seed_value: int
) -> RestSoak:
    result = RestSoak()
    next_index = iter(range(count))

    async def worker() -> None:
        conn = _Conn(t.host, t.port)
        try:
            for i in next_index:
                rng = random.Random(seed_value * 1_000_003 + i)  # request i is fixed by i
                method, path, body, ctype = build_request(rng, pool, t)
                await _one(conn, result, method, path, body, ctype, t)
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return result


async def _one(conn: _Conn, result: RestSoak, method: str, path: str, body: bytes, ctype: str,
               t: Target) -> None:  # fmt: skip
    result.requests += 1
    try:
        status, answer = await asyncio.wait_for(conn.request(method, path, body, ctype), TIMEOUT)
    except TimeoutError:
        result.hangs += 1
        conn.close()
        return
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        result.no_answer += 1
        conn.close()
        return
    result.by_status[status] += 1
    if status >= 500 and len(result.server_errors) < 20:
        result.server_errors.append(f"{status} {method} {path} {body[:200]!r} -> {answer[:200]!r}")
    if path.endswith("/call/startup") and status == 200:
        # A call the sink rejects ends by itself; hang it up too (terminate in any state).
        result.calls_started += 1
        with contextlib.suppress(ValueError, AttributeError, OSError, asyncio.IncompleteReadError,
                                 TimeoutError):  # fmt: skip
            call_id = json.loads(body).get("callId")
            if isinstance(call_id, str):
                await asyncio.wait_for(
                    conn.request("POST", "/rest-api/call/terminate",
                                 json.dumps({"callId": call_id}).encode(), "application/json"),
                    TIMEOUT,
                )  # fmt: skip
