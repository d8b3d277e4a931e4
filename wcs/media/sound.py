"""Sound files played in place of a push's call audio (``/push/sound_on``).

A request names a sound by its file NAME only; it is looked up inside the configured
directory (``sounds_dir``), so a path (``../x``, ``/etc/passwd``, ``a/b``) or a symlink leading
out of the directory is refused with :class:`SoundError` before anything is opened.

:func:`decode` reads the whole file once with PyAV into 16-bit mono PCM at both rates a push
feeds its AAC encoder (8 kHz for G.711 sources, 48 kHz for Opus), so the push's worker thread
only copies bytes. It blocks (file I/O, decoding): call it in a thread. Files longer than
:data:`MAX_SECONDS` are refused, which bounds the memory one clip takes (~33 MB at most).

:class:`SoundCursor` plays a clip: ``take(n, rate)`` hands out the next ``n`` samples (looping,
or once: then ``None``, and the caller goes back to the call's audio). Its position counts
48 kHz samples, so it continues in step if the push's rate changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av

MAX_SECONDS = 300
MAX_NAME = 255
BASE_RATE = 48000
RATES = (8000, BASE_RATE)  # both divide BASE_RATE


class SoundError(ValueError):
    """An unusable ``soundFile``; the message is safe to show (no server paths)."""


def resolve(sounds_dir: str | os.PathLike[str], name: str) -> Path:
    """The file ``name`` inside ``sounds_dir``; SoundError for anything else."""
    if (
        not name
        or len(name) > MAX_NAME
        or name in (".", "..")
        or any(c in name for c in "/\\\x00")
        or any(ord(c) < 0x20 for c in name)
    ):
        raise SoundError("soundFile must be a plain file name inside the sounds directory")
    base = Path(sounds_dir).resolve()
    path = (base / name).resolve()
    if path.parent != base:  # a symlink pointing out of the directory
        raise SoundError(f"soundFile {name!r} is not inside the sounds directory")
    if not path.is_file():
        raise SoundError(f"soundFile {name!r} not found")
    return path


@dataclass(frozen=True, slots=True)
class SoundClip:
    name: str
    pcm: dict[int, bytes]  # rate -> s16le mono samples

    @property
    def seconds(self) -> float:
        return len(self.pcm[BASE_RATE]) / 2 / BASE_RATE


def decode(path: Path, name: str, max_seconds: float = MAX_SECONDS) -> SoundClip:
    """Decode the first audio stream of ``path`` (blocking: run it in a thread)."""
    out = {rate: bytearray() for rate in RATES}
    limit = int(max_seconds * BASE_RATE * 2)
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise SoundError(f"soundFile {name!r} has no audio")
            stream = container.streams.audio[0]
            # 48 kHz from the file, 8 kHz from the 48 kHz frames: feeding one decoded frame to
            # two resamplers fails in PyAV when one of them is a passthrough (8 kHz mono s16).
            base = av.AudioResampler(format="s16", layout="mono", rate=BASE_RATE)
            low = av.AudioResampler(format="s16", layout="mono", rate=RATES[0])

            def take(frames: list[av.AudioFrame]) -> None:
                for mono in frames:
                    out[BASE_RATE] += bytes(mono.planes[0])[: mono.samples * 2]
                    for small in low.resample(mono):
                        out[RATES[0]] += bytes(small.planes[0])[: small.samples * 2]

            for frame in container.decode(stream):
                take(base.resample(frame))
                if len(out[BASE_RATE]) > limit:
                    raise SoundError(f"soundFile {name!r} is longer than {max_seconds:g} s")
            take(base.resample(None))
            for small in low.resample(None):
                out[RATES[0]] += bytes(small.planes[0])[: small.samples * 2]
    except av.error.FFmpegError as exc:
        # FFmpeg's message carries the full path: name the error type only.
        raise SoundError(f"soundFile {name!r} cannot be decoded ({type(exc).__name__})") from None
    if any(len(pcm) < 2 for pcm in out.values()):
        raise SoundError(f"soundFile {name!r} has no audio samples")
    return SoundClip(name, {rate: bytes(pcm) for rate, pcm in out.items()})


class SoundCursor:
    """Where a push is in its clip. Used by one worker thread at a time."""

    def __init__(self, clip: SoundClip, loop: bool) -> None:
        self.clip = clip
        self.loop = loop
        self.position = 0  # in BASE_RATE samples
        self.finished = False  # a clip played once has ended

    def take(self, samples: int, rate: int) -> bytes | None:
        """The next ``samples`` samples at ``rate`` (s16le mono); None once a clip played
        once has ended (its last block is padded with silence)."""
        if self.finished or samples <= 0:
            return None
        data = self.clip.pcm.get(rate)
        if data is None:
            return None
        step = BASE_RATE // rate
        total = len(data) // 2
        start = (self.position // step) % total if self.loop else self.position // step
        if not self.loop and start >= total:
            self.finished = True
            return None
        out = bytearray()
        need = samples
        while need > 0:
            chunk = data[2 * start : 2 * min(total, start + need)]
            out += chunk
            need -= len(chunk) // 2
            start = 0
            if not self.loop:
                break
        if need > 0:
            out += bytes(2 * need)
        self.position += samples * step
        return bytes(out)
