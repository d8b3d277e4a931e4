"""Decoded sounds are cached: decoded once per file version, bounded by entries and bytes."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.unit.media.test_sound import write_tone
from wcs.media.sound import SoundClip, SoundError, decode
from wcs.media.sound_cache import SoundCache, clip_bytes
from wcs.media.sound_pcm import clip_from_pcm, resample_s16


class CountingDecoder:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, path: Path, name: str, max_seconds: float) -> SoundClip:
        with self.lock:
            self.calls.append(name)
        return decode(path, name, max_seconds)


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    d = tmp_path / "sounds"
    d.mkdir()
    for i, name in enumerate(("a.wav", "b.wav", "c.wav")):
        write_tone(d / name, 400 + 100 * i, 0.2, rate=16000, channels=1)
    (d / "junk.wav").write_bytes(b"not audio" * 40)
    return d


def test_decoded_once(sounds: Path) -> None:
    dec = CountingDecoder()
    cache = SoundCache(decoder=dec)
    first = cache.load(sounds, "a.wav")
    again = cache.load(str(sounds), "a.wav")
    assert again is first
    assert dec.calls == ["a.wav"]
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)
    assert cache.bytes == clip_bytes(first) > 0


def test_changed_file_is_decoded_again(sounds: Path) -> None:
    dec = CountingDecoder()
    cache = SoundCache(decoder=dec)
    cache.load(sounds, "a.wav")
    write_tone(sounds / "a.wav", 900, 0.3, rate=16000, channels=1)  # new size
    st = (sounds / "a.wav").stat()
    os.utime(sounds / "a.wav", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    clip = cache.load(sounds, "a.wav")
    assert dec.calls == ["a.wav", "a.wav"]
    assert clip.seconds == pytest.approx(0.3, abs=0.01)


def test_lru_by_entries(sounds: Path) -> None:
    dec = CountingDecoder()
    cache = SoundCache(max_entries=2, decoder=dec)
    cache.load(sounds, "a.wav")
    cache.load(sounds, "b.wav")
    cache.load(sounds, "a.wav")  # a is now the most recent
    cache.load(sounds, "c.wav")  # evicts b
    assert len(cache) == 2
    cache.load(sounds, "a.wav")
    cache.load(sounds, "b.wav")
    assert dec.calls == ["a.wav", "b.wav", "c.wav", "b.wav"]


def test_lru_by_bytes(sounds: Path) -> None:
    dec = CountingDecoder()
    one = clip_bytes(decode(sounds / "a.wav", "a.wav"))
    cache = SoundCache(max_bytes=int(one * 1.5), decoder=dec)
    cache.load(sounds, "a.wav")
    cache.load(sounds, "b.wav")  # a goes: both do not fit
    assert len(cache) == 1
    assert cache.bytes <= cache.max_bytes
    cache.load(sounds, "b.wav")
    assert dec.calls == ["a.wav", "b.wav"]


def test_too_large_for_the_budget_is_returned_not_kept(sounds: Path) -> None:
    cache = SoundCache(max_bytes=100)
    clip = cache.load(sounds, "a.wav")
    assert clip.seconds > 0
    assert len(cache) == 0 and cache.bytes == 0


def test_errors_are_not_cached(sounds: Path) -> None:
    dec = CountingDecoder()
    cache = SoundCache(decoder=dec)
    for _ in range(2):
        with pytest.raises(SoundError, match=r"junk\.wav"):
            cache.load(sounds, "junk.wav")
    assert dec.calls == ["junk.wav", "junk.wav"]
    with pytest.raises(SoundError, match="not found"):
        cache.load(sounds, "missing.wav")
    with pytest.raises(SoundError, match="plain file name"):
        cache.load(sounds, "../a.wav")
    assert len(cache) == 0


def test_max_seconds_applies(sounds: Path) -> None:
    cache = SoundCache(max_seconds=0.1)
    with pytest.raises(SoundError, match="longer than"):
        cache.load(sounds, "a.wav")


def test_clear_and_bounds() -> None:
    cache = SoundCache()
    cache.clear()
    assert cache.bytes == 0
    with pytest.raises(ValueError):
        SoundCache(max_entries=-1)


def test_clip_from_pcm_any_rate() -> None:
    pcm = bytes(2 * 16000)  # 1 s at 16 kHz
    clip = clip_from_pcm("x", pcm, 16000)
    assert len(clip.pcm[8000]) == pytest.approx(16000, abs=64)
    assert len(clip.pcm[48000]) == pytest.approx(96000, abs=192)
    assert resample_s16(b"\x01\x02", 8000, 8000) == b"\x01\x02"
    with pytest.raises(SoundError):
        clip_from_pcm("x", b"\x00", 8000)
    with pytest.raises(SoundError):
        clip_from_pcm("x", b"\x00\x00", 0)


def test_telephony_prompt_8k_mono_decodes(tmp_path: Path) -> None:
    write_tone(tmp_path / "prompt.wav", 700, 0.2, rate=8000, channels=1)
    clip = SoundCache().load(tmp_path, "prompt.wav")
    assert clip.seconds == pytest.approx(0.2, abs=0.01)
