"""Start nginx from a config template on free loopback ports (the RTMP relay, the HLS cache).

The template's ``@@NAME@@`` tokens are replaced by the given values and by one free port
per name in ``ports``; nginx runs in the foreground with everything under ``rundir``. A
start that loses a port race (address in use) is retried with new ports.
"""

from __future__ import annotations

import functools
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.peers.ports import free_port
from tests.peers.procs import PeerError, PeerProcess, require_binary, tail, wait_until


def tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def start_nginx(
    name: str,
    template: Path,
    rundir: Path,
    values: Mapping[str, str],
    ports: Sequence[str],
    host: str = "127.0.0.1",
    timeout: float = 15.0,
) -> tuple[PeerProcess, dict[str, int], float]:
    """(process, the chosen ports by token name, start seconds); ready once the first port
    in ``ports`` accepts connections."""
    require_binary("nginx", "nginx")
    rundir.mkdir(parents=True, exist_ok=True)
    rundir = rundir.resolve()
    (rundir / "tmp").mkdir(exist_ok=True)
    last: PeerError | None = None
    for _attempt in range(3):
        chosen = {p: free_port(host) for p in ports}
        conf = template.read_text()
        tokens = {"RUNDIR": str(rundir), "HOST": host, **values}
        tokens.update({k: str(v) for k, v in chosen.items()})
        for token, value in tokens.items():
            conf = conf.replace(f"@@{token}@@", value)
        conf_path = rundir / "nginx.conf"
        conf_path.write_text(conf)
        # -e: the error log before the config is read (default /var/log/nginx needs root)
        base = ["nginx", "-e", str(rundir / "error.log"), "-p", str(rundir), "-c", str(conf_path)]
        check = subprocess.run([*base, "-t", "-q"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise PeerError(f"nginx config check failed ({conf_path}): {check.stderr[-1500:]}")
        t0 = time.monotonic()
        proc = PeerProcess(name, base, rundir / "nginx.out", cwd=rundir)
        try:
            wait_until(
                functools.partial(tcp_open, host, chosen[ports[0]]),
                timeout,
                f"{name} start",
                alive=proc.alive,
            )
        except PeerError as exc:
            proc.stop(grace=3)
            text = tail(rundir / "error.log")
            last = PeerError(f"{exc}; error.log:\n{text}")
            if "address already in use" in text.lower():
                continue
            raise last from None
        return proc, chosen, time.monotonic() - t0
    assert last is not None
    raise last
