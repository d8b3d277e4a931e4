"""Sound files for /push/sound_on: name resolution inside the sounds directory (no way out),
PyAV decoding to both push rates, and the cursor that plays a clip once or looped."""

from __future__ import annotations

import math
import os
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from wcs.media.sound import SoundClip, SoundCursor, SoundError, decode, resolve


def write_tone(path: Path, hz: float, seconds: float, rate: int = 16000, channels: int = 2) -> None:
    n = int(seconds * rate)
    frames = b"".join(
        struct.pack("<h", int(10000 * math.sin(2 * math.pi * hz * i / rate))) * channels
        for i in range(n)
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)


def dominant_hz(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    d = tmp_path / "sounds"
    d.mkdir()
    write_tone(d / "tone.wav", 600, 1.0)
    (d / "junk.wav").write_bytes(b"this is not audio at all" * 50)
    (tmp_path / "outside.wav").write_bytes((d / "tone.wav").read_bytes())
    os.symlink(tmp_path / "outside.wav", d / "escape.wav")
    (d / "sub").mkdir()
    write_tone(d / "sub" / "deep.wav", 600, 0.1)
    return d


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "../outside.wav",
        "/etc/passwd",
        "sub/deep.wav",
        "sub\\deep.wav",
        "a\x00b",
        "x" * 300,
        "nosuch.wav",
        "sub",
        "escape.wav",
        "tone\n.wav",
    ],
)
def test_only_plain_names_of_files_inside_the_directory(sounds: Path, name: str) -> None:
    with pytest.raises(SoundError) as exc:
        resolve(sounds, name)
    assert str(sounds) not in str(exc.value)


def test_decodes_to_both_push_rates(sounds: Path) -> None:
    clip = decode(resolve(sounds, "tone.wav"), "tone.wav")
    assert abs(clip.seconds - 1.0) < 0.01
    assert abs(len(clip.pcm[8000]) / 2 / 8000 - 1.0) < 0.01
    assert abs(dominant_hz(clip.pcm[48000], 48000) - 600) < 5
    assert abs(dominant_hz(clip.pcm[8000], 8000) - 600) < 5


def test_undecodable_or_too_long_files_are_refused_without_the_path(sounds: Path) -> None:
    with pytest.raises(SoundError) as exc:
        decode(resolve(sounds, "junk.wav"), "junk.wav")
    assert "junk.wav" in str(exc.value) and str(sounds) not in str(exc.value)
    with pytest.raises(SoundError, match="longer than"):
        decode(resolve(sounds, "tone.wav"), "tone.wav", max_seconds=0.5)


def clip_of(samples_8k: list[int]) -> SoundClip:
    pcm8 = struct.pack(f"<{len(samples_8k)}h", *samples_8k)
    pcm48 = struct.pack(f"<{6 * len(samples_8k)}h", *[s for s in samples_8k for _ in range(6)])
    return SoundClip("c", {8000: pcm8, 48000: pcm48})


def samples(pcm: bytes | None) -> list[int]:
    assert pcm is not None
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


def test_cursor_once_pads_the_last_block_then_ends() -> None:
    cursor = SoundCursor(clip_of([1, 2, 3, 4, 5]), loop=False)
    assert samples(cursor.take(2, 8000)) == [1, 2]
    # Rates can mix: the position is kept in 48 kHz samples.
    assert samples(cursor.take(6, 48000)) == [3] * 6
    assert samples(cursor.take(4, 8000)) == [4, 5, 0, 0]
    assert not cursor.finished
    assert cursor.take(2, 8000) is None and cursor.finished


def test_cursor_loop_wraps_around() -> None:
    cursor = SoundCursor(clip_of([1, 2, 3]), loop=True)
    assert samples(cursor.take(7, 8000)) == [1, 2, 3, 1, 2, 3, 1]
    assert samples(cursor.take(2, 8000)) == [2, 3]
    assert not cursor.finished
