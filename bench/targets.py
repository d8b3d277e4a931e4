"""Servers under test for the viewer figures: each takes plain RTP in and serves viewers.

* ``RelayTarget``: ``bench.relay_proc`` (the product's ViewerPeer fan-out, WHEP), asyncio or
  uvloop.
* ``JanusTarget``: Janus's streaming plugin (tests/peers/janus.py).
* ``WcsTarget``: the full wcs server: a SIP call from the callee farm feeds a stream, viewers
  use its WHEP endpoint (needs the stream hub and WHEP playback).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.lightrtc import SendLog
from bench.viewer_farm import Farm, FarmViewer

ROOT = Path(__file__).resolve().parents[1]


class Target:
    name = "?"
    pid = 0
    audio: tuple[str, int] | None = None  # where to send the feed
    video: tuple[str, int] | None = None
    send_log: SendLog | None = None  # set when the server strips our extension

    async def add_viewer(self, farm: Farm) -> FarmViewer | None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"target": self.name}


class RelayTarget(Target):
    def __init__(self, uvloop: bool = False, profile: str | None = None) -> None:
        self.name = "wcs ViewerPeer relay" + (" (uvloop)" if uvloop else " (asyncio)")
        argv = [sys.executable, "-m", "bench.relay_proc"]
        if uvloop:
            argv.append("--uvloop")
        if profile:
            argv += ["--profile", profile]
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("relay_proc did not start")
        info = json.loads(line)
        self.pid = self.proc.pid
        self.http = int(info["http"])
        self.audio = ("127.0.0.1", int(info["audio"]))
        self.video = ("127.0.0.1", int(info["video"]))
        self.loop = info["loop"]

    async def add_viewer(self, farm: Farm) -> FarmViewer | None:
        return await farm.add_whep(f"http://127.0.0.1:{self.http}/whep/bench")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class JanusTarget(Target):
    def __init__(self, event_loops: int = 0) -> None:
        from tests.peers.janus import start_janus

        self.rundir = Path(tempfile.mkdtemp(prefix="wcs-bench-janus-"))
        self.janus = start_janus(self.rundir, event_loops=event_loops)
        self.name = "Janus 1.1 streaming" + (f" (event_loops={event_loops})" if event_loops else "")
        self.pid = self.janus.pid
        self.audio = ("127.0.0.1", self.janus.audio_port)
        self.video = ("127.0.0.1", self.janus.video_port)
        self.send_log = SendLog()

    async def add_viewer(self, farm: Farm) -> FarmViewer | None:
        return await farm.add_janus(self.janus.url)

    def stop(self) -> None:
        self.janus.stop()


def _auto_loop() -> str:
    """What ``event_loop = auto`` runs on here (the servers share the bench's venv)."""
    import importlib.util

    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


class WcsTarget(Target):
    """The full server: one SIP call from the callee farm publishes the stream."""

    def __init__(
        self,
        uvloop: bool = False,
        patches: tuple[str, ...] = (),
        trace: str = "recorded",
        media_ports: int = 1200,
        **settings: Any,
    ) -> None:
        from bench.wcs_proc import WcsServer

        self.rundir = Path(tempfile.mkdtemp(prefix="wcs-bench-server-"))
        self.trace = trace  # what the callee farm sends (bench.trace_feed.named_trace)
        self.server = WcsServer(
            self.rundir / "wcs.log",
            media_ports=media_ports,
            uvloop=uvloop,
            patches=patches,
            **settings,
        )
        loop = "uvloop" if uvloop else settings.get("event_loop", "asyncio")
        self.name = (
            "wcs server"
            + (f" ({loop})" if loop != "auto" else f" (event_loop auto: {_auto_loop()})")
            + (" + " + "+".join(patches) if patches else "")
        )
        if settings.get("webrtc_workers"):
            self.name += f", {settings['webrtc_workers']} media workers"
        self.pid = self.server.pid
        self.stream = ""
        self.farm: Any = None
        self.farm_report: dict[str, Any] = {}

    async def start_feed(self, feeder: Any) -> None:
        """The callee farm in its own process (uvloop when installed): its send timing is
        not disturbed by the viewer farm's work in this one."""
        from bench.calls_run import FarmProcess

        try:
            import uvloop  # noqa: F401

            extra = ["--uvloop"]
        except ImportError:
            extra = []
        if self.trace != "recorded":
            extra += ["--trace", self.trace]
        self.farm = FarmProcess(extra)
        self.stream = await place_call(self.server, self.farm.port, "bench1")

    async def add_viewer(self, farm: Farm) -> FarmViewer | None:
        return await farm.add_whep(f"{self.server.base}/whep/{self.stream}")

    def stop(self) -> None:
        self.server.stop()
        if self.farm is not None:
            self.farm_report = self.farm.stop()


async def place_call(server: Any, farm_port: int, call_id: str, wait: bool = True) -> str:
    """REST call/startup to the farm (direct, no registrar); the stream name once published."""
    import asyncio

    body = {
        "callId": call_id,
        "callee": f"sip:{call_id}@127.0.0.1:{farm_port}",
        "toStream": call_id,
        "hasAudio": "true",
        "hasVideo": "true",
        "sipLogin": "bench",
        "sipDomain": "127.0.0.1",
        "sipPort": str(farm_port),
        "sipRegisterRequired": "false",
    }
    status, answer = await asyncio.to_thread(server.rest, "call/startup", body)
    if status != 200:
        raise RuntimeError(f"call/startup {status}: {answer}")
    if not wait:
        return call_id
    for _ in range(200):
        for s in await asyncio.to_thread(server.streams):
            if (
                s.get("name") == call_id
                and s.get("status") == "PUBLISHING"
                and s.get("hasVideo")
                and s.get("hasAudio")
            ):
                return call_id
        await asyncio.sleep(0.1)
    raise RuntimeError(f"stream {call_id} not published")
