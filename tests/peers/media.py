"""Media files the baresip peers send: a sine tone WAV and an H.264 test clip.

Files are cached in a directory the caller gives (one per test session), keyed by
their parameters, and written atomically so concurrent starts never read half a file.
"""

from __future__ import annotations

import math
import os
import struct
import subprocess
import wave
from pathlib import Path

from tests.peers.procs import PeerError, require_binary


def make_tone(media_dir: Path, hz: int, seconds: int, rate: int = 8000) -> Path:
    """8 kHz mono s16 WAV with a sine of ``hz`` at half full scale (what baresip's aufile wants)."""
    out = media_dir / f"tone-{hz}hz-{seconds}s-{rate}.wav"
    if out.exists():
        return out
    media_dir.mkdir(parents=True, exist_ok=True)
    # one second of samples; an integer frequency repeats exactly every second
    one_second = b"".join(
        struct.pack("<h", round(16384 * math.sin(2 * math.pi * hz * i / rate))) for i in range(rate)
    )
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        for _ in range(seconds):
            w.writeframes(one_second)
    tmp.replace(out)
    return out


def make_video_clip(
    media_dir: Path,
    pattern: str = "testsrc",
    size: str = "352x288",
    fps: int = 15,
    seconds: int = 60,
) -> Path:
    """Video-only constrained-baseline H.264 clip (Matroska) from an ffmpeg lavfi source.

    Video only: baresip's avformat source stalls on a file that also has audio.
    """
    out = media_dir / f"video-{pattern}-{size}-{fps}fps-{seconds}s.mkv"
    if out.exists():
        return out
    require_binary("ffmpeg", "ffmpeg")
    media_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"{pattern}=size={size}:rate={fps}:duration={seconds}",
        "-an",
        "-c:v",
        "libx264",
        "-profile:v",
        "baseline",
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(fps),
        "-bf",
        "0",
        "-f",
        "matroska",
        str(tmp),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        raise PeerError(f"ffmpeg could not make the test clip: {res.stderr[-1000:]}")
    tmp.replace(out)
    return out
