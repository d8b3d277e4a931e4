"""A checker for the media playlists we emit, against the RFC 8216bis rules we implement.

Used by the tests (every rendered playlist goes through it) and usable on a live server's
output. :func:`check_playlist` checks one playlist; :class:`PlaylistHistory` checks a series
of reloads of the same playlist for continuity (media sequence numbers never step back, a
segment or part keeps its duration and URI, the discontinuity sequence counts what left).
URIs are mapped to (msn, part index) with our own naming (:func:`wcs.hls.names.parse_name`)
so numbering gaps are caught too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .names import parse_name

_ATTR = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')
_HEADER = {
    "EXT-X-VERSION",
    "EXT-X-TARGETDURATION",
    "EXT-X-SERVER-CONTROL",
    "EXT-X-PART-INF",
    "EXT-X-MEDIA-SEQUENCE",
    "EXT-X-DISCONTINUITY-SEQUENCE",
    "EXT-X-PLAYLIST-TYPE",
    "EXT-X-INDEPENDENT-SEGMENTS",
}
_SEGMENT_TAGS = {
    "EXTINF",
    "EXT-X-PART",
    "EXT-X-MAP",
    "EXT-X-PROGRAM-DATE-TIME",
    "EXT-X-DISCONTINUITY",
}
_TOLERANCE = 0.0005  # durations are printed with 5 decimals


def attributes(value: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in _ATTR.findall(value)}


def our_numbers(uri: str) -> tuple[int, int | None] | None:
    """(msn, part index or None) of one of our segment/part URIs."""
    res = parse_name(uri.rsplit("/", 1)[-1], "")
    if res is None or res.kind not in ("segment", "part"):
        return None
    return res.number, res.index if res.kind == "part" else None


@dataclass(slots=True)
class ListedSegment:
    msn: int
    uri: str | None = None
    duration: float | None = None  # EXTINF; None: the open segment (parts only)
    parts: list[tuple[str, float, bool]] = field(default_factory=list)
    discontinuity: bool = False


@dataclass(slots=True)
class Checked:
    errors: list[str] = field(default_factory=list)
    media_sequence: int = 0
    discontinuity_sequence: int = 0
    target: int = 0
    part_target: float | None = None
    segments: list[ListedSegment] = field(default_factory=list)
    preload_hint: str | None = None
    ended: bool = False


def check_playlist(
    text: str,
    numbers: Callable[[str], tuple[int, int | None] | None] = our_numbers,
) -> Checked:
    out = Checked()
    err = out.errors.append
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        err("first line is not #EXTM3U")
        return out
    seen: set[str] = set()
    media_started = False
    has_map = False
    control: dict[str, str] = {}
    version = 1
    current = ListedSegment(0)
    pending_uri = False
    for line in lines[1:]:
        if out.ended:
            err(f"{line!r} after EXT-X-ENDLIST")
        if pending_uri:
            pending_uri = False
            if line.startswith("#"):
                err(f"EXTINF not followed by a URI but {line!r}")
            else:
                current.uri = line
                out.segments.append(current)
                current = ListedSegment(current.msn + 1)
                continue
        if not line.startswith("#EXT"):
            if not line.startswith("#"):
                err(f"URI {line!r} without EXTINF")
            continue
        tag, _, value = line[1:].partition(":")
        if tag in _HEADER:
            if media_started:
                err(f"{tag} after the first media segment tag")
            if tag in seen:
                err(f"{tag} appears twice")
            seen.add(tag)
            if tag == "EXT-X-VERSION":
                version = int(value)
            elif tag == "EXT-X-TARGETDURATION":
                out.target = int(value)
            elif tag == "EXT-X-MEDIA-SEQUENCE":
                out.media_sequence = current.msn = int(value)
            elif tag == "EXT-X-DISCONTINUITY-SEQUENCE":
                out.discontinuity_sequence = int(value)
            elif tag == "EXT-X-PART-INF":
                out.part_target = float(attributes(value)["PART-TARGET"])
            elif tag == "EXT-X-SERVER-CONTROL":
                control = attributes(value)
            continue
        if tag in _SEGMENT_TAGS:
            media_started = True
        if tag == "EXT-X-MAP":
            has_map = True
            if version < 6:
                err("EXT-X-MAP needs EXT-X-VERSION 6 or more")
        elif tag == "EXT-X-PROGRAM-DATE-TIME":
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                err(f"bad EXT-X-PROGRAM-DATE-TIME {value!r}")
        elif tag == "EXT-X-DISCONTINUITY":
            current.discontinuity = True
        elif tag == "EXT-X-PART":
            a = attributes(value)
            current.parts.append(
                (a.get("URI", ""), float(a.get("DURATION", "nan")), a.get("INDEPENDENT") == "YES")
            )
            if a.get("INDEPENDENT", "YES") not in ("YES", "NO"):
                err(f"bad INDEPENDENT in {line!r}")
        elif tag == "EXTINF":
            current.duration = float(value.split(",", 1)[0])
            pending_uri = True
        elif tag == "EXT-X-PRELOAD-HINT":
            a = attributes(value)
            if out.preload_hint is not None:
                err("two EXT-X-PRELOAD-HINT")
            if a.get("TYPE") == "PART":
                out.preload_hint = a.get("URI")
        elif tag == "EXT-X-ENDLIST":
            out.ended = True
        if tag in ("EXTINF", "EXT-X-PART", "EXT-X-PRELOAD-HINT") and not has_map:
            err(f"{tag} before EXT-X-MAP")
    if current.parts:
        out.segments.append(current)  # the open segment: parts, no EXTINF yet
    elif current.discontinuity:
        err("EXT-X-DISCONTINUITY with no segment after it")
    if "EXT-X-TARGETDURATION" not in seen:
        err("no EXT-X-TARGETDURATION")
    _check_durations(out, control)
    _check_numbers(out, numbers)
    return out


def _check_durations(out: Checked, control: dict[str, str]) -> None:
    err = out.errors.append
    any_parts = any(s.parts for s in out.segments)
    if any_parts or out.preload_hint:
        if out.part_target is None:
            err("EXT-X-PART without EXT-X-PART-INF")
            return
        if control.get("CAN-BLOCK-RELOAD") != "YES":
            err("LL-HLS playlist without CAN-BLOCK-RELOAD=YES")
        hold = float(control.get("PART-HOLD-BACK", "0"))
        if hold < 2 * out.part_target:
            err(f"PART-HOLD-BACK {hold} is under twice PART-TARGET {out.part_target}")
    for s in out.segments:
        if s.duration is not None and round(s.duration) > out.target:
            err(f"segment {s.msn}: EXTINF {s.duration} rounds above {out.target}")
        for uri, duration, _ in s.parts:
            if out.part_target is not None and duration > out.part_target + _TOLERANCE:
                err(f"part {uri}: {duration} exceeds PART-TARGET {out.part_target}")
        if s.parts and s.duration is not None:
            total = sum(d for _, d, _ in s.parts)
            if abs(total - s.duration) > _TOLERANCE * (len(s.parts) + 1):
                err(f"segment {s.msn}: parts sum to {total}, EXTINF says {s.duration}")


def _check_numbers(out: Checked, numbers: Callable[[str], tuple[int, int | None] | None]) -> None:
    err = out.errors.append
    for s in out.segments:
        if s.uri is not None:
            got = numbers(s.uri)
            if got is None or got != (s.msn, None):
                err(f"segment URI {s.uri} is not segment {s.msn}")
        for i, (uri, _, _) in enumerate(s.parts):
            if numbers(uri) != (s.msn, i):
                err(f"part URI {uri} is not part {i} of segment {s.msn}")
    if out.preload_hint is not None:
        if out.ended:
            err("EXT-X-PRELOAD-HINT in an ended playlist")
        last = out.segments[-1] if out.segments else None
        if last is None:
            return
        if last.duration is None:
            expect: tuple[int, int | None] = (last.msn, len(last.parts))
        else:
            expect = (last.msn + 1, 0)
        if numbers(out.preload_hint) != expect:
            err(f"preload hint {out.preload_hint} is not the next part {expect}")


class PlaylistHistory:
    """Successive reloads of one playlist: numbering must continue, nothing may change."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._segments: dict[int, tuple[str | None, float]] = {}
        self._parts: dict[str, float] = {}
        self._disc: dict[int, bool] = {}
        self._last: Checked | None = None

    def add(self, text: str) -> Checked:
        checked = check_playlist(text)
        self.errors += checked.errors
        err = self.errors.append
        last = self._last
        if last is not None:
            if checked.media_sequence < last.media_sequence:
                err(f"media sequence stepped back to {checked.media_sequence}")
            left = sum(
                1
                for m, d in self._disc.items()
                if last.media_sequence <= m < checked.media_sequence and d
            )
            if checked.discontinuity_sequence != last.discontinuity_sequence + left:
                err("discontinuity sequence does not count the discontinuities that left")
            if last.ended and not checked.ended:
                err("EXT-X-ENDLIST went away")
        for s in checked.segments:
            self._disc[s.msn] = s.discontinuity or self._disc.get(s.msn, False)
            if s.duration is not None:
                known = self._segments.setdefault(s.msn, (s.uri, s.duration))
                if known != (s.uri, s.duration):
                    err(f"segment {s.msn} changed from {known} to {(s.uri, s.duration)}")
            for uri, duration, _ in s.parts:
                if self._parts.setdefault(uri, duration) != duration:
                    err(f"part {uri} changed duration")
        self._last = checked
        return checked
