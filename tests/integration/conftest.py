"""Fixtures for tests that run the real `wcs serve` process against the real peers.

The server runs as a subprocess (``python -m wcs serve``) on ports chosen at run time, with its
settings in ``WCS_*`` variables; status events come back through the REST hooks to an HTTP
collector in the test process. Every process is stopped by its PID at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ports import free_port, free_port_range
from tests.peers.procs import child_pids

ROOT = Path(__file__).resolve().parents[2]
PASSWORD_1001 = "secret1001"


def call_body(kamailio: Any, call_id: str, callee: str, **extra: Any) -> dict[str, Any]:
    """A /call/startup body as the WCS demo pages send it (strings), for user 1001."""
    body = {
        "callId": call_id,
        "callee": callee,
        "hasAudio": "true",
        "hasVideo": "true",
        "sipLogin": "1001",
        "sipAuthenticationName": "1001",
        "sipPassword": PASSWORD_1001,
        "sipDomain": kamailio.realm,
        "sipOutboundProxy": kamailio.host,
        "sipPort": str(kamailio.port),
        "appKey": "testApp",
        "sipRegisterRequired": "false",
    }
    body.update(extra)
    return body


@dataclass
class HookCollector:
    """An application backend that records every REST hook it receives."""

    url: str
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, call_id: str, method: str = "CallStatusEvent") -> list[dict[str, Any]]:
        with self.lock:
            return [e for m, e in self.events if m == method and e.get("callId") == call_id]

    def statuses(self, call_id: str) -> list[str]:
        return [e["status"] for e in self.of(call_id)]

    def wait_status(self, call_id: str, status: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.of(call_id):
                if e["status"] == status:
                    return e
            time.sleep(0.05)
        raise AssertionError(
            f"call {call_id}: no {status} within {timeout}s; saw "
            + str([(e["status"], e["sipStatus"], e["info"]) for e in self.of(call_id)])
        )

    def raw(self) -> str:
        with self.lock:
            return json.dumps(self.events)


@pytest.fixture
def backend() -> Iterator[Any]:
    """The application backend of the incoming-call tests (:class:`inbound_helpers.Backend`:
    records every hook, answers IncomingCallEvent with its ``verdict``)."""
    from tests.integration.inbound_helpers import serve_backend  # it imports this module

    yield from serve_backend()


@pytest.fixture
def hooks() -> Iterator[HookCollector]:
    collector: HookCollector

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            method = self.path.rstrip("/").rsplit("/", 1)[-1]
            with collector.lock:
                collector.events.append((method, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    collector = HookCollector(f"http://127.0.0.1:{httpd.server_address[1]}/apps/test")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield collector
    httpd.shutdown()
    httpd.server_close()


class WcsProcess:
    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        http_port: int,
        sip_port: int,
        log: Path,
        host: str = "127.0.0.1",
    ):
        self.proc = proc
        self.http_port = http_port
        self.sip_port = sip_port
        self.log_path = log
        self.host = host  # where the REST/WS listeners answer (an IPv6 one is bare: "::1")
        hostpart = f"[{host}]" if ":" in host else host
        self.base = f"http://{hostpart}:{http_port}"

    def rest(
        self, path: str, body: dict[str, Any] | None = None, method: str = "POST"
    ) -> tuple[int, Any]:
        """POST ``body`` to ``/rest-api/<path>``; returns (status, parsed JSON or text or None)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.base}/rest-api/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        if not raw:
            return status, None
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def children(self) -> list[int]:
        """PIDs of the server's child processes (its media workers)."""
        return child_pids(self.proc.pid)

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


def pid_alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


WcsFactory = Callable[..., WcsProcess]


@pytest.fixture
def webrtc_workers() -> int:
    """The servers' ``webrtc_workers``; a module parametrizes it to run its tests with both."""
    return 0


@pytest.fixture
def wcs(tmp_path: Path, webrtc_workers: int) -> Iterator[WcsFactory]:
    """``wcs(**settings)`` starts a server; settings become WCS_<NAME> variables.

    At the end every server is stopped, and none of its child processes may outlive it.
    """
    started: list[WcsProcess] = []

    def start(*, preexec_fn: Callable[[], None] | None = None, **settings: Any) -> WcsProcess:
        http_port = free_port()
        sip_port = free_port()
        media_from = free_port_range(100)
        env = dict(os.environ)
        env.update(
            {
                "WCS_BIND_IP": "127.0.0.1",
                "WCS_PUBLIC_IP": "127.0.0.1",
                "WCS_HTTP_PORT": str(http_port),
                "WCS_WS_PORT": str(free_port()),
                "WCS_HLS_PORT": str(free_port()),
                "WCS_RTSP_PORT": str(free_port()),
                # listened on only with tls_cert: never the fixed defaults 8443/8445
                "WCS_WSS_PORT": str(free_port()),
                "WCS_HLS_TLS_PORT": str(free_port()),
                "WCS_SIP_PORT": str(sip_port),
                "WCS_MEDIA_PORT_FROM": str(media_from),
                "WCS_MEDIA_PORT_TO": str(media_from + 99),
                "WCS_LOG_LEVEL": "DEBUG",
                "WCS_WEBRTC_WORKERS": str(webrtc_workers),
            }
        )
        for key, value in settings.items():
            env[f"WCS_{key.upper()}"] = str(value)
        log = tmp_path / f"wcs-{len(started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "wcs", "serve"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec_fn,  # e.g. a lower RLIMIT_NOFILE (test_limits.py)
            )
        bind_ip = env["WCS_BIND_IP"]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(bind_ip, bind_ip)
        server = WcsProcess(proc, http_port, sip_port, log, host)
        started.append(server)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"wcs exited during start:\n{server.log()}")
            try:
                with urllib.request.urlopen(f"{server.base}/health", timeout=1) as resp:
                    if resp.status == 200:
                        return server
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"wcs did not answer /health:\n{server.log()}")

    yield start
    leaked: list[int] = []
    for server in started:
        children = server.children()
        server.stop()
        deadline = time.monotonic() + 5
        while any(pid_alive(p) for p in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in children:
            if pid_alive(pid):
                leaked.append(pid)
                os.kill(pid, signal.SIGKILL)
    assert not leaked, f"child processes outlived the server: {leaked}"
