"""Blocking playlist reload (RFC 8216bis 6.2.5.2): answer now, hold, or refuse.

The HTTP edge parses ``_HLS_msn`` / ``_HLS_part`` with :func:`parse_query`, then asks
:func:`decide` each time the segmenter announces a part (and once at arrival). A ``Wait`` is
held at most :attr:`HlsSettings.hold_limit` seconds (3 x TARGETDURATION); past that the edge
answers 503. ``BadRequest`` is 400: a request beyond the last segment + 2, a part beyond the
Advance Part Limit, ``_HLS_part`` without ``_HLS_msn``, or numbers that are not numbers.
A stream that ended answers at once: nothing more will come.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .segmenter import Segmenter

_MAX_NUMBER = 10**12


@dataclass(frozen=True, slots=True)
class Ready:
    pass


@dataclass(frozen=True, slots=True)
class Wait:
    msn: int
    part: int | None


@dataclass(frozen=True, slots=True)
class BadRequest:
    reason: str


Decision = Ready | Wait | BadRequest


@dataclass(frozen=True, slots=True)
class BlockingRequest:
    msn: int | None = None
    part: int | None = None
    skip: str | None = None  # _HLS_skip (delta updates are not offered; ignored)


def _number(value: str, name: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise ValueError(f"{name} must be a non-negative integer")
    n = int(value)
    if n >= _MAX_NUMBER:
        raise ValueError(f"{name} out of range")
    return n


def parse_query(query: Mapping[str, str]) -> BlockingRequest | BadRequest:
    """The blocking-reload directives of a playlist request (other parameters ignored)."""
    try:
        msn = _number(query["_HLS_msn"], "_HLS_msn") if "_HLS_msn" in query else None
        part = _number(query["_HLS_part"], "_HLS_part") if "_HLS_part" in query else None
    except ValueError as exc:
        return BadRequest(str(exc))
    if part is not None and msn is None:
        return BadRequest("_HLS_part without _HLS_msn")
    return BlockingRequest(msn, part, query.get("_HLS_skip"))


def advance_part_limit(part_target: float) -> int:
    """How many parts a request may be ahead: 3 / PART-TARGET when under 1 s, else 3."""
    return math.ceil(3 / part_target) if part_target < 1 else 3


def decide(seg: Segmenter, request: BlockingRequest) -> Decision:
    msn, part = request.msn, request.part
    if msn is None or seg.ended:
        return Ready()
    last_complete = max((x.msn for x in seg.segments if x.complete), default=seg.media_sequence - 1)
    if msn > last_complete + 2:
        return BadRequest(f"_HLS_msn {msn} is beyond the last segment {last_complete} + 2")
    if part is None:
        return Ready() if msn <= last_complete else Wait(msn, None)
    if msn <= last_complete:
        found = seg.segment(msn)
        # Past the last part of a complete segment means the first part of the next one.
        if found is None or part < len(found.parts):
            return Ready()
        return decide(seg, BlockingRequest(msn + 1, part - len(found.parts)))
    hint = seg.next_part()
    cur_msn, cur_parts = hint if hint is not None else (last_complete + 1, 0)
    if msn == cur_msn and part < cur_parts:
        return Ready()
    per_segment = max(1, round(seg.settings.target_duration / seg.settings.part_target))
    ahead = (msn - cur_msn) * per_segment + part - (cur_parts - 1)
    if ahead > advance_part_limit(seg.settings.part_target):
        return BadRequest(f"_HLS_part {part} of {msn} is beyond the Advance Part Limit")
    return Wait(msn, part)


@dataclass(frozen=True, slots=True)
class NotFound:
    pass


def resource_decision(
    seg: Segmenter, kind: str, number: int, index: int = 0
) -> Decision | NotFound:
    """A request for an init segment, a segment or a part (see :mod:`wcs.hls.names`).

    Ready: serve it now. Wait: it is the part being filled (the preload hint) or comes soon
    after it (within the Advance Part Limit), or the open segment: hold it like a blocking
    playlist request and ask again on each PartReady/SegmentReady. NotFound: gone from the
    retained window, never existed, or never will (the stream ended). BadRequest: too far
    ahead.
    """
    if kind == "init":
        return Ready() if number in seg.inits else NotFound()
    if kind == "segment":
        found = seg.segment(number)
        if found is not None and found.complete:
            return Ready()
        if seg.ended or number < seg.media_sequence:
            return NotFound()
        hint = seg.next_part()
        if hint is not None and number <= hint[0] + 1:
            return Wait(number, None)
        return BadRequest(f"segment {number} is too far ahead")
    if kind == "part":
        if seg.part_data(number, index) is not None:
            return Ready()
        found = seg.segment(number)
        if seg.ended or (found is not None and found.complete) or number < seg.media_sequence:
            return NotFound()
        decision = decide(seg, BlockingRequest(number, index))
        return NotFound() if isinstance(decision, Ready) else decision
    return NotFound()
