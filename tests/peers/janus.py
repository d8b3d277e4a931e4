"""Janus 1.1 (Debian package) on loopback: streaming plugin, one mountpoint, HTTP API.

Started on free ports: HTTP API, ICE range, the plugin's RTP range and the mountpoint's
two plain-RTP inputs (H.264 PT 96 and PCMU PT 0, as a SIP call sends them). Janus never
gathers loopback candidates on its own, so it runs with LD_PRELOAD of
``janus_loopback_ifaddrs.c`` (compiled here with cc) and ``ice_enforce_list=127.0.0.1``.

``JanusApi`` is a minimal blocking client of the HTTP API for a streaming viewer:
create → attach → watch (the offer arrives on the long poll) → start with the answer.
"""

from __future__ import annotations

import contextlib
import functools
import json
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.peers.ports import free_port, free_port_range
from tests.peers.procs import PeerError, PeerProcess, require_binary, tail, wait_until

HERE = Path(__file__).resolve().parent
SHIM_SOURCE = HERE / "janus_loopback_ifaddrs.c"
TEMPLATES = ("janus.jcfg", "janus.transport.http.jcfg", "janus.plugin.streaming.jcfg")
DEFAULT_LIBDIR = Path("/usr/lib/x86_64-linux-gnu/janus")
MOUNTPOINT = 1
ICE_PORTS = 1000
PLUGIN_PORTS = 200


@dataclass
class Janus:
    host: str
    http_port: int
    video_port: int  # plain RTP in, H.264 PT 96
    audio_port: int  # plain RTP in, PCMU PT 0
    rundir: Path
    process: PeerProcess
    start_seconds: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}/janus"

    def log_text(self) -> str:
        return self.process.log_text()

    def stop(self) -> int | None:
        return self.process.stop(grace=10)


def _libdir() -> Path:
    try:
        out = subprocess.run(
            ["dpkg", "-L", "janus"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return DEFAULT_LIBDIR
    for line in out.splitlines():
        if line.endswith("/plugins/libjanus_streaming.so"):
            return Path(line).parent.parent
    return DEFAULT_LIBDIR


def _build_shim(rundir: Path) -> Path:
    so = rundir / "libjanus-loopback-ifaddrs.so"
    if not so.exists() or so.stat().st_mtime < SHIM_SOURCE.stat().st_mtime:
        require_binary("cc", "gcc")
        res = subprocess.run(
            ["cc", "-shared", "-fPIC", "-O2", "-o", str(so), str(SHIM_SOURCE), "-ldl"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if res.returncode != 0:
            raise PeerError(f"cannot build the Janus loopback shim: {res.stderr[-800:]}")
    return so


def _http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read().decode())


def _info_ok(url: str) -> bool:
    try:
        return bool(_http_json(url + "/info", timeout=1.0).get("janus") == "server_info")
    except (OSError, urllib.error.URLError, ValueError):
        return False


def start_janus(
    rundir: Path,
    *,
    host: str = "127.0.0.1",
    event_loops: int = 0,
    debug: int = 3,
    timeout: float = 20.0,
) -> Janus:
    """Render the templates into ``rundir`` and start Janus; wait for its HTTP API.

    ``event_loops`` > 0 makes Janus share that many loop threads among all handles
    (default: one thread per handle).
    """
    require_binary("janus", "janus")
    if not host.startswith("127."):
        raise PeerError(f"refusing non-loopback address {host}")
    rundir.mkdir(parents=True, exist_ok=True)
    rundir = rundir.resolve()
    conf = rundir / "conf"
    conf.mkdir(exist_ok=True)
    shim = _build_shim(rundir)
    last: PeerError | None = None
    for _attempt in range(3):
        http_port = free_port(host)
        ice_from = free_port_range(ICE_PORTS, host)
        plugin_from = free_port_range(PLUGIN_PORTS, host)
        av = free_port_range(2, host, step=2)
        tokens = {
            "CONFDIR": str(conf),
            "LIBDIR": str(_libdir()),
            "DEBUG": str(debug),
            "EVENT_LOOPS": f"event_loops = {event_loops}" if event_loops > 0 else "",
            "ICE_FROM": str(ice_from),
            "ICE_TO": str(ice_from + ICE_PORTS - 1),
            "HTTP_PORT": str(http_port),
            "PLUGIN_FROM": str(plugin_from),
            "PLUGIN_TO": str(plugin_from + PLUGIN_PORTS - 1),
            "VIDEO_PORT": str(av),
            "AUDIO_PORT": str(av + 1),
        }
        for name in TEMPLATES:
            text = (HERE / f"{name}.in").read_text()
            for key, value in tokens.items():
                text = text.replace(f"@@{key}@@", value)
            (conf / name).write_text(text)
        log = rundir / "janus.log"
        t0 = time.monotonic()
        proc = PeerProcess(
            "janus",
            ["janus", "-C", str(conf / "janus.jcfg"), "-F", str(conf), "-o"],
            log,
            cwd=rundir,
            env={"LD_PRELOAD": str(shim)},
        )
        url = f"http://{host}:{http_port}/janus"
        try:
            wait_until(functools.partial(_info_ok, url), timeout, "janus start", alive=proc.alive)
            # plugins are initialized (mountpoint sockets bound) before transports start
        except PeerError as exc:
            proc.stop(grace=3)
            text = tail(log)
            last = PeerError(f"{exc}; log:\n{text}")
            if "already in use" in text.lower() or "bind" in text.lower():
                continue
            raise last from None
        return Janus(host, http_port, av, av + 1, rundir, proc, time.monotonic() - t0)
    assert last is not None
    raise last


def _tx() -> str:
    return secrets.token_hex(6)


class JanusApi:
    """One viewer's session on the streaming plugin (blocking HTTP calls)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.session = 0
        self.handle = 0

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        body = {**body, "transaction": _tx()}
        return _http_json(self.url + path, body)

    def watch(self, mountpoint: int = MOUNTPOINT, timeout: float = 10.0) -> str:
        """Create, attach, watch; the offer SDP Janus sends for the mountpoint."""
        r = self._post("", {"janus": "create"})
        if r.get("janus") != "success":
            raise PeerError(f"janus create: {r}")
        self.session = int(r["data"]["id"])
        r = self._post(f"/{self.session}", {"janus": "attach", "plugin": "janus.plugin.streaming"})
        if r.get("janus") != "success":
            raise PeerError(f"janus attach: {r}")
        self.handle = int(r["data"]["id"])
        r = self._post(
            f"/{self.session}/{self.handle}",
            {"janus": "message", "body": {"request": "watch", "id": mountpoint}},
        )
        jsep = r.get("jsep")
        deadline = time.monotonic() + timeout
        while jsep is None:
            if time.monotonic() > deadline:
                raise PeerError("janus watch: no offer")
            events = _http_json(
                f"{self.url}/{self.session}?maxev=5&rid={time.time_ns()}", timeout=timeout
            )
            for ev in events if isinstance(events, list) else [events]:
                if ev.get("janus") == "event" and ev.get("jsep"):
                    jsep = ev["jsep"]
                elif ev.get("janus") == "event" and "error" in ev.get("plugindata", {}).get(
                    "data", {}
                ):
                    raise PeerError(f"janus watch: {ev['plugindata']['data']}")
        return str(jsep["sdp"])

    def start(self, answer_sdp: str) -> None:
        r = self._post(
            f"/{self.session}/{self.handle}",
            {
                "janus": "message",
                "body": {"request": "start"},
                "jsep": {"type": "answer", "sdp": answer_sdp},
            },
        )
        if r.get("janus") not in ("ack", "success", "event"):
            raise PeerError(f"janus start: {r}")

    def destroy(self) -> None:
        if self.session:
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                self._post(f"/{self.session}", {"janus": "destroy"})
            self.session = 0
