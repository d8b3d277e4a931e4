"""The project's own server as a plain process on free loopback ports, for scripts outside
pytest (trace captures): ``python -m wcs serve`` with ``WCS_*`` settings, REST calls."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.peers.ports import free_port, free_port_range
from tests.peers.procs import PeerError, PeerProcess, tail

ROOT = Path(__file__).resolve().parents[2]


class WcsServer:
    def __init__(self, rundir: Path, **settings: Any) -> None:
        self.http_port, self.sip_port = free_port(), free_port()
        media = free_port_range(100, step=2)
        env = {
            "WCS_BIND_IP": "127.0.0.1",
            "WCS_PUBLIC_IP": "127.0.0.1",
            "WCS_HTTP_PORT": str(self.http_port),
            "WCS_WS_PORT": str(free_port()),
            "WCS_HLS_PORT": str(free_port()),
            "WCS_RTSP_PORT": str(free_port()),
            "WCS_SIP_PORT": str(self.sip_port),
            "WCS_MEDIA_PORT_FROM": str(media),
            "WCS_MEDIA_PORT_TO": str(media + 99),
            **{f"WCS_{k.upper()}": str(v) for k, v in settings.items()},
        }
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.process = PeerProcess(
            "wcs", [sys.executable, "-m", "wcs", "serve"], rundir / "wcs.log", ROOT, env
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=1):
                    return
            except OSError:
                if not self.process.alive() or time.monotonic() > deadline:
                    self.process.stop(grace=3)
                    raise PeerError(f"wcs did not start: {tail(rundir / 'wcs.log')}") from None
                time.sleep(0.1)

    def rest(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        req = urllib.request.Request(
            f"{self.base}/rest-api/{path}",
            data=json.dumps(body or {}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        return status, json.loads(raw) if raw else None

    def stop(self) -> int | None:
        return self.process.stop(grace=15)
