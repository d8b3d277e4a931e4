"""What the segmenter produces and announces: settings, parts, segments, events."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class HlsSettings:
    """Cutting and window rules of one stream's (LL-)HLS output.

    ``target_duration``: segments are cut at the first keyframe once this long is nearly
    reached (``keyframe_lead`` before it, half of it at least); without a keyframe they are
    cut anyway just before their rounded length would exceed the playlist's TARGETDURATION
    (``ceil`` of this).
    ``part_target``: partial segments never exceed it. ``keyframe_lead``: how long before
    the target a keyframe is asked for (a PLI/FIR round trip plus the encoder's reaction).
    ``window``: complete segments listed; ``retain``: extra ones still served after
    leaving the playlist (clients that loaded an older playlist fetch them).
    """

    target_duration: float = 2.0
    part_target: float = 0.33334
    window: int = 6
    retain: int = 6
    keyframe_lead: float = 0.5
    low_latency: bool = True

    def __post_init__(self) -> None:
        if not 0.1 <= self.target_duration <= 60:
            raise ValueError("target_duration must be within 0.1..60 s")
        if not 0.05 <= self.part_target <= self.target_duration:
            raise ValueError("part_target must be within 0.05 s..target_duration")
        if self.window < 2 or self.retain < 0:
            raise ValueError("window must be ≥ 2 and retain ≥ 0")

    @property
    def playlist_target(self) -> int:
        """EXT-X-TARGETDURATION: an integer no segment's rounded EXTINF exceeds."""
        return max(1, math.ceil(self.target_duration))

    @property
    def keyframe_cut_from(self) -> float:
        """A keyframe starts a new segment once the open one is this long."""
        return max(self.target_duration / 2, self.target_duration - self.keyframe_lead)

    @property
    def hard_limit(self) -> float:
        """The longest a segment may get: its EXTINF still rounds to TARGETDURATION."""
        return self.playlist_target + 0.499

    @property
    def part_hold_back(self) -> float:
        """PART-HOLD-BACK: three part targets (RFC 8216bis: at least two, three advised)."""
        return 3 * self.part_target

    @property
    def hold_limit(self) -> float:
        """How long a blocking request may be held before the edge answers 503."""
        return 3.0 * self.playlist_target


@dataclass(slots=True)
class Part:
    msn: int
    index: int
    duration: float  # seconds
    independent: bool
    data: bytes


@dataclass(slots=True)
class Segment:
    msn: int
    start: float  # media time of its first sample, seconds since the stream's time 0
    init_id: int
    discontinuity: bool = False
    parts: list[Part] = field(default_factory=list)
    complete: bool = False

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.parts)

    @property
    def independent(self) -> bool:
        return bool(self.parts) and self.parts[0].independent

    @property
    def data(self) -> bytes:
        return b"".join(p.data for p in self.parts)


@dataclass(frozen=True, slots=True)
class PartReady:
    msn: int
    index: int
    independent: bool


@dataclass(frozen=True, slots=True)
class SegmentReady:
    msn: int
    duration: float


@dataclass(frozen=True, slots=True)
class KeyframeWanted:
    """Ask the source for a keyframe (PLI/FIR, SIP INFO): the segment is running long."""

    msn: int
    reason: str


@dataclass(frozen=True, slots=True)
class InitChanged:
    """A new init segment (first one, or the source's SPS/PPS changed)."""

    init_id: int


@dataclass(frozen=True, slots=True)
class StreamEnded:
    last_msn: int


HlsEvent = PartReady | SegmentReady | KeyframeWanted | InitChanged | StreamEnded
