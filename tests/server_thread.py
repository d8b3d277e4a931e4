"""A real wcs Server in a background thread with its own event loop, for tests that talk to
it over HTTP from synchronous code (hypothesis, prometheus_client, urllib)."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.fixtures.ports import free_port, free_port_range
from wcs.config import load_settings
from wcs.server import Server


class ServerThread:
    def __init__(self, tmp: Path, **overrides: Any) -> None:
        media = free_port_range(40)
        settings = {
            "bind_ip": "127.0.0.1",
            "public_ip": "127.0.0.1",
            "http_port": free_port(),
            "ws_port": free_port(),
            "wss_port": free_port(),  # used only with tls_cert: never the fixed default
            "hls_tls_port": free_port(),
            "hls_port": 0,
            "rtsp_port": 0,
            "sip_port": free_port(),
            "media_port_from": media,
            "media_port_to": media + 39,
            "record_dir": str(tmp / "records"),
            "log_level": "WARNING",
        }
        settings.update(overrides)
        self.settings = load_settings(env={}, overrides=settings)
        self.loop = asyncio.new_event_loop()
        self.server: Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.http.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        assert self.server is not None, "server did not start"
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def boot() -> None:
            self.server = Server(self.settings)
            await self.server.start()

        try:
            self.loop.run_until_complete(boot())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def call(self, fn: Any) -> Any:
        """Run ``fn()`` (sync) in the server's loop and return its result."""
        done = threading.Event()
        box: list[Any] = []

        def run() -> None:
            box.append(fn())
            done.set()

        self.loop.call_soon_threadsafe(run)
        done.wait(10)
        return box[0]

    def stop(self) -> None:
        if self.server is not None and self.loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop)
            fut.result(30)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self.loop.is_running():
            self.loop.close()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(
            self.base + path, data=body, method=method,
            headers={"Content-Type": content_type} if body is not None else {},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers.items()), exc.read()

    def rest(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body if body is not None else {}).encode()
        status, _, raw = self.request("POST", "/rest-api/" + path, data)
        return status, json.loads(raw) if raw else None
