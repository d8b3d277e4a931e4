"""The file names of one stream's HLS output, and the strict parser the HTTP edge uses.

Everything a stream serves is ``{stream}.m3u8``, ``init{N}.mp4``, ``seg{MSN}.m4s`` or
``part{MSN}.{INDEX}.m4s``; any other name (``..``, slashes, encoded tricks) is no resource.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"(?:init(\d{1,9})\.mp4|seg(\d{1,12})\.m4s|part(\d{1,12})\.(\d{1,4})\.m4s)")


def init_name(init_id: int) -> str:
    return f"init{init_id}.mp4"


def segment_name(msn: int) -> str:
    return f"seg{msn}.m4s"


def part_name(msn: int, index: int) -> str:
    return f"part{msn}.{index}.m4s"


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str  # "playlist" | "init" | "segment" | "part"
    number: int = 0  # init id or msn
    index: int = 0  # part index


def parse_name(name: str, stream: str) -> Resource | None:
    """What ``name`` (the last path element, already percent-decoded) asks of ``stream``."""
    if name == f"{stream}.m3u8":
        return Resource("playlist")
    m = _NAME.fullmatch(name)
    if m is None:
        return None
    if m.group(1) is not None:
        return Resource("init", int(m.group(1)))
    if m.group(2) is not None:
        return Resource("segment", int(m.group(2)))
    return Resource("part", int(m.group(3)), int(m.group(4)))
