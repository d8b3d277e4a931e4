"""The runnable examples in examples/, run as programs against the test bed peers:
call_to_wav.py calls a baresip callee through Kamailio (digest auth) and saves its tone;
push_file_to_rtmp.py publishes a clip to nginx-rtmp, which ffprobe then reads."""

from __future__ import annotations

import array
import itertools
import math
import os
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from tests.peers.procs import require_binary

pytestmark = pytest.mark.peers

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def example_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def dominant_hz(samples: array.array[int], rate: int = 8000) -> float:
    """Frequency from zero crossings: enough to tell a 1 kHz tone from anything else."""
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / rate)


def test_call_to_wav_records_the_callee_tone(kamailio, callee, tmp_path: Path) -> None:
    peer = callee(media="audio", tone_hz=1000)
    out = tmp_path / "call.wav"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "call_to_wav.py"),
         "--domain", kamailio.realm, "--proxy", f"{kamailio.host}:{kamailio.port}",
         "--port", str(kamailio.port), "--callee", peer.user,
         "--login", "1001", "--password", "secret1001", "--seconds", "3", "--out", str(out)],
        cwd=ROOT, env=example_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "answered" in proc.stdout
    with wave.open(str(out), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        samples = array.array("h", w.readframes(w.getnframes()))
    assert len(samples) > 8000 * 2  # over two of the three seconds arrived
    middle = samples[4000:12000]
    rms = math.sqrt(sum(s * s for s in middle) / len(middle))
    assert rms > 2000  # the tone, not silence
    assert 950 < dominant_hz(middle) < 1050


def make_clip(path: Path, seconds: int = 6) -> Path:
    require_binary("ffmpeg", "ffmpeg")
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc=size=320x240:rate=15:duration={seconds}",
           "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
           "-c:v", "mpeg4", "-c:a", "pcm_s16le", "-shortest", str(path)]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=120)
    return path


def test_push_file_to_rtmp_is_readable_by_ffprobe(nginx_rtmp, ffprobe, tmp_path: Path) -> None:
    # An MPEG-4 Part 2 + PCM clip: the example has to transcode both tracks.
    clip = make_clip(tmp_path / "clip.avi")
    url = nginx_rtmp.url("example")
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "push_file_to_rtmp.py"), str(clip), url],
        cwd=ROOT, env=example_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while "example" not in nginx_rtmp.stat_xml() and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        streams = ffprobe(url)
        codecs = {s["codec_type"]: s for s in streams}
        assert codecs["video"]["codec_name"] == "h264"
        assert (codecs["video"]["width"], codecs["video"]["height"]) == (320, 240)
        assert codecs["audio"]["codec_name"] == "aac"
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "done:" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
