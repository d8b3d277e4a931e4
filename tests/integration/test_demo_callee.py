"""The demo callee end to end at the SIP/RTP level: the library example calls it, records
its audio and video, and what arrives is the beep and a decodable 640x360 test card."""

from __future__ import annotations

import array
import asyncio
import os
import sys
import wave
from pathlib import Path

import av
import pytest

from wcs.demo import DemoCallee

ROOT = Path(__file__).resolve().parents[2]


def example_env() -> dict[str, str]:
    """The examples import ``wcs``: from the checkout, installed or not."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.mark.asyncio
async def test_example_records_demo_call(tmp_path: Path) -> None:
    demo = DemoCallee(ring_delay=0.2)
    await demo.start()
    wav_path = tmp_path / "demo.wav"
    h264_path = tmp_path / "demo.h264"
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "examples" / "call_to_wav.py"),
            "--domain", "127.0.0.1", "--port", str(demo.port), "--callee", "demo",
            "--seconds", "2.5", "--out", str(wav_path), "--video", str(h264_path),
            cwd=ROOT,
            env=example_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, out.decode()
        # The example hung up: the demo released the call.
        for _ in range(100):
            if demo.active_calls() == 0:
                break
            await asyncio.sleep(0.02)
        assert demo.active_calls() == 0
        assert demo.calls_total == 1
    finally:
        await demo.close()
    with wave.open(str(wav_path), "rb") as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1)
        samples = array.array("h", w.readframes(w.getnframes()))
    assert len(samples) > 8000  # more than a second of audio arrived
    peak = max(abs(s) for s in samples)
    assert 4000 < peak < 12000  # the beep (level 8000), not silence and not clipping
    loud = sum(1 for s in samples if abs(s) > 2000) / len(samples)
    assert 0.02 < loud < 0.5  # a beep of 200 ms per second, not a continuous tone
    codec = av.CodecContext.create("h264", "r")
    frames = []
    for packet in codec.parse(h264_path.read_bytes()):
        frames += codec.decode(packet)
    assert len(frames) >= 15  # at 15 fps over ~2.5 s, at least a second's worth decoded
    assert (frames[0].width, frames[0].height) == (640, 360)
