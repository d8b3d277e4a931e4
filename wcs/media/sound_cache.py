"""Decoded sounds kept for reuse: a bounded LRU keyed by file, modification time and size.

``/call/inject_sound`` (and ``/push/sound_on``) name a file in ``sounds_dir``; decoding it
with PyAV takes far longer than playing a cached clip, and a conference dial-in plays the
same prompt on every call. A changed file (new mtime or size) is a new key, so an edit is
picked up at once; the stale entry ages out. Bounded by entries and by PCM bytes (a clip
of 300 s at both rates is ~33 MB); a clip larger than the whole budget is decoded and
returned but not kept.

:meth:`SoundCache.load` blocks (stat, decode): call it in a thread. The table is guarded by a
lock; two threads missing the same file at once both decode it (rare, and harmless).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from .sound import MAX_SECONDS, SoundClip, SoundError, decode, resolve

DEFAULT_ENTRIES = 16
DEFAULT_BYTES = 64 * 1024 * 1024

Decoder = Callable[[Path, str, float], SoundClip]


def clip_bytes(clip: SoundClip) -> int:
    return sum(len(pcm) for pcm in clip.pcm.values())


class SoundCache:
    def __init__(
        self,
        max_entries: int = DEFAULT_ENTRIES,
        max_bytes: int = DEFAULT_BYTES,
        *,
        max_seconds: float = MAX_SECONDS,
        decoder: Decoder = decode,
    ) -> None:
        if max_entries < 0 or max_bytes < 0:
            raise ValueError("cache bounds must not be negative")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self._decode = decoder
        self._clips: OrderedDict[tuple[str, int, int], SoundClip] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._clips)

    def load(self, sounds_dir: str | os.PathLike[str], name: str) -> SoundClip:
        """The clip of file ``name`` in ``sounds_dir`` (SoundError as :func:`resolve` and
        :func:`decode` raise it); decoded once while the file stays the same."""
        path = resolve(sounds_dir, name)
        try:
            st = path.stat()
        except OSError:
            raise SoundError(f"soundFile {name!r} not found") from None
        key = (str(path), st.st_mtime_ns, st.st_size)
        with self._lock:
            clip = self._clips.get(key)
            if clip is not None:
                self._clips.move_to_end(key)
                self.hits += 1
                return clip
            self.misses += 1
        clip = self._decode(path, name, self.max_seconds)
        self._store(key, clip)
        return clip

    def clear(self) -> None:
        with self._lock:
            self._clips.clear()
            self.bytes = 0

    def _store(self, key: tuple[str, int, int], clip: SoundClip) -> None:
        size = clip_bytes(clip)
        if size > self.max_bytes or self.max_entries == 0:
            return
        with self._lock:
            old = self._clips.pop(key, None)
            if old is not None:
                self.bytes -= clip_bytes(old)
            self._clips[key] = clip
            self.bytes += size
            while len(self._clips) > self.max_entries or self.bytes > self.max_bytes:
                _, evicted = self._clips.popitem(last=False)
                self.bytes -= clip_bytes(evicted)
