"""nginx as a caching reverse proxy in front of a wcs HLS listener (``proxy_cache`` +
``proxy_cache_lock``, config in ``nginx-hls-cache.conf.in``)."""

from __future__ import annotations

import getpass
import signal
from dataclasses import dataclass
from pathlib import Path

from tests.peers.nginx import start_nginx
from tests.peers.procs import PeerProcess

TEMPLATE = Path(__file__).resolve().parent / "nginx-hls-cache.conf.in"


@dataclass
class HlsCache:
    host: str
    port: int
    rundir: Path
    process: PeerProcess

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def stop(self) -> int | None:
        return self.process.stop(grace=10, sig=signal.SIGTERM)


def start_hls_cache(rundir: Path, origin_port: int, host: str = "127.0.0.1") -> HlsCache:
    proc, ports, _ = start_nginx(
        "nginx-hls-cache",
        TEMPLATE,
        rundir,
        {"ORIGIN_PORT": str(origin_port), "USER": getpass.getuser()},
        ("PORT",),
        host,
    )
    return HlsCache(host, ports["PORT"], rundir.resolve(), proc)
