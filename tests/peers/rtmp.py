"""nginx with the RTMP module on 127.0.0.1:<free port>, application ``live``, plus
ffprobe/ffmpeg helpers to read and feed RTMP streams."""

from __future__ import annotations

import functools
import json
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.peers.ports import free_port
from tests.peers.procs import PeerError, PeerProcess, require_binary, tail, wait_until

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "nginx-rtmp.conf.in"
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")


@dataclass
class NginxRtmp:
    host: str
    port: int
    stat_port: int
    rundir: Path
    process: PeerProcess
    start_seconds: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.rundir / "error.log"

    def url(self, stream: str, app: str = "live") -> str:
        return f"rtmp://{self.host}:{self.port}/{app}/{stream}"

    def stat_xml(self) -> str:
        """nginx-rtmp's statistics page (XML): streams, publishers, codecs."""
        with urllib.request.urlopen(f"http://{self.host}:{self.stat_port}/stat", timeout=5) as r:
            return str(r.read().decode(errors="replace"))

    def stop(self) -> int | None:
        # SIGTERM = fast shutdown (SIGQUIT would wait for live connections to end)
        return self.process.stop(grace=10, sig=signal.SIGTERM)


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def start_nginx_rtmp(rundir: Path, host: str = "127.0.0.1", timeout: float = 15.0) -> NginxRtmp:
    require_binary("nginx", "nginx")
    if not RTMP_MODULE.exists():
        raise PeerError(
            f"{RTMP_MODULE} missing (apt package libnginx-mod-rtmp); "
            "run tests/peers/install-peers.sh"
        )
    rundir.mkdir(parents=True, exist_ok=True)
    rundir = rundir.resolve()
    (rundir / "tmp").mkdir(exist_ok=True)
    last: PeerError | None = None
    for _attempt in range(3):
        port, stat_port = free_port(host), free_port(host)
        conf = TEMPLATE.read_text()
        for name, value in {
            "RUNDIR": str(rundir),
            "HOST": host,
            "RTMP_PORT": str(port),
            "STAT_PORT": str(stat_port),
            "RTMP_MODULE": str(RTMP_MODULE),
        }.items():
            conf = conf.replace(f"@@{name}@@", value)
        conf_path = rundir / "nginx.conf"
        conf_path.write_text(conf)
        # -e: the error log before the config is read (default /var/log/nginx needs root)
        base = ["nginx", "-e", str(rundir / "error.log"), "-p", str(rundir), "-c", str(conf_path)]
        check = subprocess.run([*base, "-t", "-q"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise PeerError(f"nginx config check failed ({conf_path}): {check.stderr[-1500:]}")
        t0 = time.monotonic()
        proc = PeerProcess("nginx-rtmp", base, rundir / "nginx.out", cwd=rundir)
        try:
            wait_until(
                functools.partial(_tcp_open, host, port),
                timeout,
                "nginx-rtmp start",
                alive=proc.alive,
            )
        except PeerError as exc:
            proc.stop(grace=3)
            text = tail(rundir / "error.log")
            last = PeerError(f"{exc}; error.log:\n{text}")
            if "address already in use" in text.lower():
                continue
            raise last from None
        return NginxRtmp(host, port, stat_port, rundir, proc, time.monotonic() - t0)
    assert last is not None
    raise last


def ffprobe(url: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Streams of a media URL or file as ffprobe reports them (codec_name, codec_type,
    width, height, sample_rate, channels, ...)."""
    require_binary("ffprobe", "ffmpeg")
    cmd = [
        "ffprobe",
        "-v",
        "error",
        "-rw_timeout",
        str(int(timeout * 1e6)),
        "-show_streams",
        "-of",
        "json",
        url,
    ]
    if not url.startswith("rtmp"):
        cmd.remove("-rw_timeout")
        cmd.remove(str(int(timeout * 1e6)))
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 5)
    except subprocess.TimeoutExpired:
        raise PeerError(f"ffprobe {url}: no answer within {timeout:.0f} s") from None
    if res.returncode != 0:
        raise PeerError(f"ffprobe {url} failed: {res.stderr.strip()[-800:]}")
    streams: list[dict[str, Any]] = json.loads(res.stdout).get("streams", [])
    return streams


def ffmpeg_publish(url: str, seconds: float, log_path: Path, audio: str = "aac") -> PeerProcess:
    """Publish a test stream (H.264 testsrc + a 440 Hz tone) to ``url`` in real time.

    ``audio``: aac, pcm_alaw, pcm_mulaw or none. Stop it with ``.stop()``, or let it end.
    """
    require_binary("ffmpeg", "ffmpeg")
    argv = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "warning",
        "-re",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size=640x360:rate=25:duration={seconds}",
    ]
    if audio != "none":
        rate = "48000" if audio == "aac" else "8000"
        argv += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}:duration={seconds}"]
    argv += [
        "-map",
        "0:v",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
        "-g",
        "50",
        "-pix_fmt",
        "yuv420p",
    ]
    if audio != "none":
        argv += ["-map", "1:a", "-c:a", audio, "-ac", "1"]
    argv += ["-f", "flv", url]
    return PeerProcess("ffmpeg-publish", argv, log_path)
