"""Helpers of the push integration tests: push events from the REST hooks, a restartable
nginx-rtmp, and a PyAV reader that decodes a pulled RTMP stream to its end."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any

import av

from tests.integration.conftest import HookCollector
from tests.peers.nginx import tcp_open
from tests.peers.procs import PeerProcess, wait_until
from tests.peers.rtmp import NginxRtmp


def push_events(hooks: HookCollector, msid: str) -> list[dict[str, Any]]:
    with hooks.lock:
        return [
            e
            for m, e in hooks.events
            if m == "StreamStatusEvent" and e.get("mediaSessionId") == msid
        ]


def wait_push(
    hooks: HookCollector, msid: str, status: str, after: int = 0, timeout: float = 20.0
) -> dict[str, Any]:
    """The first ``status`` event of push ``msid`` among its events from index ``after``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in push_events(hooks, msid)[after:]:
            if e["status"] == status:
                return e
        time.sleep(0.05)
    seen = [(e["status"], e.get("info")) for e in push_events(hooks, msid)]
    raise AssertionError(f"push {msid}: no {status} within {timeout}s; saw {seen}")


def stream_push_msid(hooks: HookCollector, published_name: str, timeout: float = 20.0) -> str:
    """The mediaSessionId of the push publishing ``published_name`` (direct SIP-as-RTMP)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with hooks.lock:
            for m, e in hooks.events:
                if (
                    m == "StreamStatusEvent"
                    and e.get("mediaProvider") == "RTMP"
                    and e.get("streamName") == published_name
                ):
                    return str(e["mediaSessionId"])
        time.sleep(0.05)
    raise AssertionError(f"no push event for {published_name}")


def restart_nginx(old: NginxRtmp, timeout: float = 15.0) -> NginxRtmp:
    """Start nginx again with the config (and so the ports) of a stopped instance."""
    rundir = old.rundir
    conf = rundir / "nginx.conf"
    base = ["nginx", "-e", str(rundir / "error.log"), "-p", str(rundir), "-c", str(conf)]
    proc = PeerProcess("nginx-rtmp", base, rundir / "nginx.out", cwd=rundir)
    wait_until(
        functools.partial(tcp_open, old.host, old.port),
        timeout,
        "nginx-rtmp restart",
        alive=proc.alive,
    )
    return NginxRtmp(old.host, old.port, old.stat_port, rundir, proc)


@dataclass
class Pulled:
    """What a PyAV pull of a live RTMP stream saw, pts in seconds of the stream's timebase."""

    video_frames: int = 0
    audio_frames: int = 0
    decode_errors: int = 0
    size: tuple[int, int] = (0, 0)
    audio_rate: int = 0
    video_codec: str = ""
    audio_codec: str = ""
    video_pts: list[float] = field(default_factory=list)
    audio_pts: list[float] = field(default_factory=list)
    audio_samples: int = 0
    wall_seconds: float = 0.0
    ended_by: str = "eof"

    def first(self) -> tuple[float, float]:
        return self.video_pts[0], self.audio_pts[0]

    def last(self) -> tuple[float, float]:
        return self.video_pts[-1], self.audio_pts[-1]


def _packets(container: Any, out: Pulled) -> Any:
    """Demux until the end; nginx-rtmp ends a live stream whose publisher left by closing
    the connection, which FFmpeg reports as an I/O error: that is the end, not a failure."""
    try:
        yield from container.demux()
    except (av.error.EOFError, av.error.ExitError, OSError) as exc:
        out.ended_by = type(exc).__name__


def pull(url: str, max_seconds: float = 600.0) -> Pulled:
    """Decode every packet of ``url`` until the publisher ends it (or ``max_seconds``)."""
    out = Pulled()
    t0 = time.monotonic()
    # A puller may join before the push publishes (nginx-rtmp keeps it waiting), and nginx
    # keeps a player connected after the publisher left: the read timeout ends the pull.
    with av.open(url, timeout=(40.0, 15.0)) as container:
        for s in container.streams:
            if s.type == "video":
                out.video_codec = s.codec_context.name
            elif s.type == "audio":
                out.audio_codec = s.codec_context.name
        for packet in _packets(container, out):
            if packet.size == 0 or packet.pts is None:
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                out.decode_errors += 1
                continue
            for frame in frames:
                # The frame's own pts: a threaded H.264 decoder hands frames out later
                # than their packets.
                if frame.pts is None or frame.time_base is None:
                    continue
                pts = float(frame.pts * frame.time_base)
                if isinstance(frame, av.VideoFrame):
                    out.video_frames += 1
                    out.size = (frame.width, frame.height)
                    out.video_pts.append(pts)
                elif isinstance(frame, av.AudioFrame):
                    out.audio_frames += 1
                    out.audio_samples += frame.samples
                    out.audio_rate = frame.sample_rate
                    out.audio_pts.append(pts)
            if time.monotonic() - t0 > max_seconds:
                break
    out.wall_seconds = time.monotonic() - t0
    return out
