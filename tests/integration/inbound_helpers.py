"""Shared pieces of the incoming-call tests: registering the server, finding the incoming
call, and an application backend that answers the ``IncomingCallEvent`` hook."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.integration.conftest import WcsProcess
from tests.integration.playback import stream_entries


def register_body(kamailio: Any, user: str = "1003", **extra: Any) -> dict[str, Any]:
    body = {
        "sipLogin": user,
        "sipPassword": f"secret{user}",
        "sipDomain": kamailio.realm,
        "sipOutboundProxy": kamailio.host,
        "sipPort": kamailio.port,
        "appKey": "testApp",
    }
    body.update(extra)
    return body


def wait_until(what: str, check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout}s")


def register(server: WcsProcess, kamailio: Any, user: str = "1003", **extra: Any) -> str:
    """Register ``user`` through REST and wait until Kamailio has the binding."""
    status, reg = server.rest("sip/register", register_body(kamailio, user, **extra))
    assert status == 200, reg
    assert "sipPassword" not in reg and f"secret{user}" not in json.dumps(reg)
    reg_id = str(reg["registrationId"])

    def registered() -> bool:
        status, found = server.rest("sip/find", {"registrationId": reg_id})
        return status == 200 and found[0]["status"] == "REGISTERED"

    wait_until("REGISTERED", registered)
    wait_until("the binding in Kamailio", lambda: kamailio.registered(user))
    return reg_id


def incoming_call(server: WcsProcess, timeout: float = 20.0) -> dict[str, Any]:
    """The first incoming call /call/find_all lists."""

    def find() -> dict[str, Any] | None:
        status, calls = server.rest("call/find_all")
        if status != 200:
            return None
        return next((c for c in calls if c["incoming"]), None)

    found: dict[str, Any] = wait_until("an incoming call", find, timeout)
    return found


def published(server: WcsProcess, name: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        for s in stream_entries(server):
            live = s["name"] == name and s["published"] and s["status"] == "PUBLISHING"
            if live and s.get("hasAudio") and s.get("hasVideo"):
                return s
        return None

    entry: dict[str, Any] = wait_until(f"stream {name} PUBLISHING", find)
    return entry


@dataclass
class Backend:
    """An application backend: records every hook, answers IncomingCallEvent with
    ``verdict`` after ``delay`` seconds."""

    url: str = ""
    verdict: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for m, e in self.events if m == method]

    def statuses(self, call_id: str) -> list[str]:
        return [e["status"] for e in self.of("CallStatusEvent") if e["callId"] == call_id]

    def wait_status(self, call_id: str, status: str, timeout: float = 20.0) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            return next(
                (
                    e
                    for e in self.of("CallStatusEvent")
                    if e["callId"] == call_id and e["status"] == status
                ),
                None,
            )

        event: dict[str, Any] = wait_until(f"{status} of {call_id}", find, timeout)
        return event


def serve_backend() -> Iterator[Backend]:
    backend = Backend()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            method = self.path.rstrip("/").rsplit("/", 1)[-1]
            with backend.lock:
                backend.events.append((method, body))
            reply = b""
            if method == "IncomingCallEvent":
                time.sleep(backend.delay)
                reply = json.dumps(backend.verdict).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    backend.url = f"http://127.0.0.1:{httpd.server_address[1]}/apps/test"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield backend
    httpd.shutdown()
    httpd.server_close()
