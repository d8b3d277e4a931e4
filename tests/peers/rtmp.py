"""nginx with the RTMP module on 127.0.0.1:<free port>, application ``live``, plus
ffprobe/ffmpeg helpers to read and feed RTMP streams."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.peers.nginx import start_nginx
from tests.peers.procs import PeerError, PeerProcess, require_binary

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


def start_nginx_rtmp(rundir: Path, host: str = "127.0.0.1", timeout: float = 15.0) -> NginxRtmp:
    if not RTMP_MODULE.exists():
        raise PeerError(
            f"{RTMP_MODULE} missing (apt package libnginx-mod-rtmp); "
            "run tests/peers/install-peers.sh"
        )
    proc, ports, seconds = start_nginx(
        "nginx-rtmp",
        TEMPLATE,
        rundir,
        {"RTMP_MODULE": str(RTMP_MODULE)},
        ("RTMP_PORT", "STAT_PORT"),
        host,
        timeout,
    )
    return NginxRtmp(host, ports["RTMP_PORT"], ports["STAT_PORT"], rundir.resolve(), proc, seconds)


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
