"""`make run` on a checkout starts the server; an empty server answers find_all with 404."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.fixtures.ports import free_port, free_port_range

ROOT = Path(__file__).resolve().parents[2]


def test_make_run_serves_rest(tmp_path: Path) -> None:
    http_port = free_port()
    media = free_port_range(20)
    env = dict(os.environ)
    env.update(
        WCS_HTTP_PORT=str(http_port),
        WCS_WS_PORT=str(free_port()),
        WCS_HLS_PORT=str(free_port()),
        WCS_RTSP_PORT=str(free_port()),
        WCS_SIP_PORT=str(free_port()),
        WCS_MEDIA_PORT_FROM=str(media),
        WCS_MEDIA_PORT_TO=str(media + 19),
        WCS_BIND_IP="127.0.0.1",
    )
    log = (tmp_path / "make-run.log").open("wb")
    proc = subprocess.Popen(
        ["make", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        status = None
        deadline = time.monotonic() + 300  # a first run creates the venv
        while time.monotonic() < deadline and proc.poll() is None:
            req = urllib.request.Request(
                f"http://127.0.0.1:{http_port}/rest-api/call/find_all",
                data=b"{}",
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=2) as resp:
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                time.sleep(0.3)
                continue
            break
        assert status == 404, (tmp_path / "make-run.log").read_text()
    finally:
        # make runs the server in its own process group: stop the whole group by its PID.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
