"""Start the wcs server as a child process on free loopback ports (settings as WCS_* env)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.peers.ports import _AVOID, _bindable, _ephemeral_low, free_port

ROOT = Path(__file__).resolve().parents[1]


def media_range(count: int, host: str = "127.0.0.1") -> int:
    """First port of ``count`` free consecutive ports (even). Unlike tests.peers.ports, a
    range may be handed out again: benchmark servers run one after the other."""
    rnd = random.SystemRandom()
    high = _ephemeral_low() - count
    for _ in range(200):
        base = rnd.randrange(10000, high)
        base -= base % 2
        ports = range(base, base + count)
        if any(p in r for r in _AVOID for p in (ports[0], ports[-1])) or any(
            r.start in ports for r in _AVOID
        ):
            continue
        if all(_bindable(p, host) for p in ports):
            return base
    raise RuntimeError(f"no {count} free consecutive ports on {host}")


class WcsServer:
    def __init__(
        self,
        log: Path,
        media_ports: int = 1200,
        uvloop: bool = False,
        patches: tuple[str, ...] = (),
        **settings: Any,
    ) -> None:
        self.http_port = free_port()
        self.sip_port = free_port()
        media_from = media_range(media_ports)
        env = dict(os.environ)
        env.update(
            {
                "WCS_BIND_IP": "127.0.0.1",
                "WCS_PUBLIC_IP": "127.0.0.1",
                "WCS_HTTP_PORT": str(self.http_port),
                "WCS_WS_PORT": str(free_port()),
                "WCS_HLS_PORT": str(free_port()),
                "WCS_RTSP_PORT": str(free_port()),
                "WCS_SIP_PORT": str(self.sip_port),
                "WCS_MEDIA_PORT_FROM": str(media_from),
                "WCS_MEDIA_PORT_TO": str(media_from + media_ports - 1),
                "WCS_LOG_LEVEL": "WARNING",
            }
        )
        if not uvloop and "event_loop" not in settings:
            # A label "asyncio" must mean it: the server's own default (auto) picks uvloop
            # whenever it is installed, as it is in the bench's venv.
            env["WCS_EVENT_LOOP"] = "asyncio"
        for key, value in settings.items():
            env[f"WCS_{key.upper()}"] = str(value)
        self.env = {k: v for k, v in env.items() if k.startswith("WCS_")}
        launcher = uvloop or patches
        if uvloop:
            env["BENCH_UVLOOP"] = "1"
        if patches:
            env["BENCH_PATCHES"] = ",".join(patches)
        self.argv = [sys.executable, "-m", "bench.wcs_launch" if launcher else "wcs", "serve"]
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.proc.pid
        self.base = f"http://127.0.0.1:{self.http_port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wcs exited during start: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("wcs did not answer /health")

    def rest(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        req = urllib.request.Request(
            f"{self.base}/rest-api/{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def streams(self) -> list[dict[str, Any]]:
        status, body = self.rest("stream/find_all", {})
        return body if status == 200 and isinstance(body, list) else []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
