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

import jsonschema
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.fixtures.openapi import deref, json_strategy

TIMEOUT = 10.0
WORKERS = 4
NASTY: list[Any] = [
    "\ud800", "a\udfffb", "\x00", "x\x1by", "\u202e", "a" * 5000, "", " ", "sip:", "sip:@x",
    "[::1", ":", "sip:@@:::99999999", "rtmp://", "%00", "../../etc/passwd", "demo", -1, 0,
    2**70, -(2**70), 1e308, 0.5, None, True, [], {}, ["\ud800"], {"a": "\ud800"},
]  # fmt: skip
# Values that name no host: kept as they are in host fields (they reach the URI parser).
NO_HOST = {v for v in NASTY if isinstance(v, str) and not v.replace(".", "").isalnum()}


def _names_no_host(value: Any) -> bool:
    return isinstance(value, str) and value in NO_HOST


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
    created: Counter[str] = field(default_factory=Counter)  # 200 to a startup, undone

    def count_5xx(self) -> int:
        return sum(n for s, n in self.by_status.items() if s >= 500)


@dataclass
class Pool:
    """Generated raw bodies of one operation, split by whether its request schema accepts
    them (those must never get a 5xx, and are most of what reaches the handlers' logic)."""

    valid: list[bytes]
    other: list[bytes]


def pools(doc: dict[str, Any], per_op: int, seed_value: int) -> dict[tuple[str, str], Pool]:
    """(method, path) -> generated bodies, for every REST operation of the document."""
    schemas = doc["components"]["schemas"]
    out: dict[tuple[str, str], Pool] = {}
    for path, item in doc["paths"].items():
        if not path.startswith("/rest-api/") or path.endswith("openapi.json"):
            continue
        pool = Pool([], [])
        op = next(iter(item.values()))  # GET and POST of an operation share the body
        spec = op.get("requestBody", {}).get("content", {}).get("application/json")
        schema = deref(spec["schema"], schemas) if spec else None
        for raw in _draw(json_strategy(op, schemas), per_op, seed_value):
            (pool.valid if _accepts(schema, raw) else pool.other).append(raw)
        for method in item:
            out[(method.upper(), path)] = pool
    return out


def _accepts(schema: dict[str, Any] | None, raw: bytes) -> bool:
    if schema is None:
        return False
    try:
        jsonschema.validate(json.loads(raw), schema)
    except (ValueError, jsonschema.ValidationError):
        return False
    return True


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
    rng: random.Random, pool: dict[tuple[str, str], Pool], t: Target
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
    if roll < 0.14:  # a call the server places (to the sink): the whole call path runs
        body: Any = plausible_call(rng)
        for _ in range(rng.choice([0, 0, 1])):
            body = _mutate(rng, body)
        return (
            "POST",
            "/rest-api/call/startup",
            json.dumps(_aim("/rest-api/call/startup", body, t)).encode(),
            ("application/json"),
        )
    (method, path), bodies = rng.choice(sorted(pool.items()))
    use_valid = bodies.valid and (not bodies.other or rng.random() < 0.5)
    raw = rng.choice(bodies.valid if use_valid else bodies.other)
    if path.endswith("/stream/terminate") and not raw.strip():
        raw = b"{}"  # an empty body is {}: every stream (WCS semantics); aimed below
    try:
        body = json.loads(raw)
    except ValueError:
        return method, path, raw, "application/json"
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        body = _mutate(rng, body)
    body = _aim(path, body, t)
    ctype = "application/json" if rng.random() < 0.97 else "text/plain"
    return method, path, json.dumps(body).encode(), ctype


def plausible_call(rng: random.Random) -> dict[str, Any]:
    """A /call/startup body the server accepts (generated ones rarely are: no sipLogin)."""
    n = rng.getrandbits(48)
    body: dict[str, Any] = {
        "callId": f"soak-{n:x}", "callee": rng.choice(["1001", "bob", "soak"]),
        "sipLogin": "soak", "sipPassword": "secret", "toStream": f"soak-s-{n:x}",
        "hasAudio": rng.random() < 0.8, "hasVideo": rng.random() < 0.8,
        "sipTransport": rng.choice(["UDP", "UDP", "TCP"]),
    }  # fmt: skip
    if rng.random() < 0.2:
        body["rtmpUrl"] = "rtmp://127.0.0.1/live"  # aimed at the closed port
    return body


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
            if not _names_no_host(body.get(key)):
                body.pop(key, None)
        if "sipDomain" not in body:
            body["sipDomain"] = "127.0.0.1"
        if not isinstance(body.get("sipPort"), str):
            body["sipPort"] = t.sink_port
        callee = body.get("callee")
        if (
            isinstance(callee, str)
            and not _names_no_host(callee)
            and ("@" in callee or ":" in callee)
        ):
            body["callee"] = "soak"
    for key in ("rtmpUrl", "rtmpTransponderFullUrl"):
        if key in body and not _names_no_host(body[key]):
            body[key] = f"rtmp://127.0.0.1:{t.sink_port}/live"
    if body.get("callId") == t.live_call:
        body["callId"] = "soak-other"
    name = body.get("name")
    if path.endswith("/stream/terminate") and (name in (None, t.live_stream) or name == ""):
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
    t: Target, count: int, pool: dict[tuple[str, str], Pool], seed_value: int
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
    if status == 200:
        cleanup = _cleanup(path, body, answer)
        if cleanup is not None:
            # What a request made is undone, so that the soak measures leaks, not its own
            # accumulation: calls (the sink rejects them anyway), pushes, recordings.
            result.created[path.rsplit("/", 2)[-2]] += 1
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError,
                                     ValueError):  # fmt: skip
                await asyncio.wait_for(conn.request("POST", cleanup[0],
                                                    json.dumps(cleanup[1]).encode(),
                                                    "application/json"), TIMEOUT)  # fmt: skip


def _cleanup(path: str, body: bytes, answer: bytes) -> tuple[str, dict[str, Any]] | None:
    try:
        sent = json.loads(body)
        got = json.loads(answer) if answer else None
    except ValueError:
        return None
    if not isinstance(sent, dict):
        return None
    if path.endswith("/call/startup") and isinstance(sent.get("callId"), str):
        return "/rest-api/call/terminate", {"callId": sent["callId"]}
    if path.endswith("/push/startup") and isinstance(got, dict) and "mediaSessionId" in got:
        return "/rest-api/push/terminate", {"mediaSessionId": got["mediaSessionId"]}
    if path.endswith(("/recorder/startup", "/stream/startRecording")):
        keys = ("mediaSessionId", "streamName")
        return "/rest-api/recorder/terminate", {k: sent[k] for k in keys if k in sent}
    return None
