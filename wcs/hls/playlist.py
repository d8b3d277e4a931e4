"""Media playlist rendering (RFC 8216bis): live window, LL-HLS parts and the end.

Tag order per segment: EXT-X-DISCONTINUITY, EXT-X-MAP (when the init segment changes),
EXT-X-PROGRAM-DATE-TIME, its EXT-X-PART lines, then EXTINF and the URI. The open segment's
parts follow the last complete segment, then one EXT-X-PRELOAD-HINT for the part being
filled. Parts are listed only for segments within three target durations of the end (the
RFC's advice); older segments are whole only. An ended stream gets EXT-X-ENDLIST and no
hint. The same text serves plain HLS clients: they ignore the LL-HLS tags.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .model import Segment
from .names import init_name, part_name, segment_name
from .segmenter import Segmenter

VERSION = 9


def _num(x: float) -> str:
    return f"{x:.5f}".rstrip("0").rstrip(".") if x != int(x) else f"{int(x)}"


def _pdt(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def render(seg: Segmenter, epoch: float | None = None, prefix: str = "") -> str:
    """The media playlist now. ``epoch``: wall-clock (Unix s) of media time 0, for
    EXT-X-PROGRAM-DATE-TIME; ``prefix``: prepended to every URI (e.g. ``""`` for names
    relative to the playlist)."""
    s = seg.settings
    ll = s.low_latency
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{VERSION}",
        f"#EXT-X-TARGETDURATION:{s.playlist_target}",
    ]
    if ll:
        lines.append(
            f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={_num(s.part_hold_back)}"
        )
        lines.append(f"#EXT-X-PART-INF:PART-TARGET={_num(s.part_target)}")
    listed = [x for x in seg.segments if x.msn >= seg.media_sequence]
    complete = [x for x in listed if x.complete]
    # An open segment is listed once it has a part (its tags alone would dangle).
    open_seg = listed[-1] if listed and not listed[-1].complete and listed[-1].parts else None
    lines.append(f"#EXT-X-MEDIA-SEQUENCE:{seg.media_sequence}")
    if seg.discontinuity_sequence:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{seg.discontinuity_sequence}")
    # Parts are kept for the segments that end within 3 target durations of the end.
    parts_from = len(complete)
    tail = sum(p.duration for p in open_seg.parts) if open_seg is not None else 0.0
    while parts_from > 0 and tail + complete[parts_from - 1].duration <= 3 * s.playlist_target:
        parts_from -= 1
        tail += complete[parts_from].duration
    current_init = 0
    for i, x in enumerate([*complete, *([open_seg] if open_seg else [])]):
        if x.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if x.init_id != current_init:
            lines.append(f'#EXT-X-MAP:URI="{prefix}{init_name(x.init_id)}"')
            current_init = x.init_id
        if epoch is not None:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_pdt(epoch + x.start)}")
        if ll and (i >= parts_from or not x.complete):
            lines += _parts(x, prefix)
        if x.complete:
            lines.append(f"#EXTINF:{x.duration:.5f},")
            lines.append(f"{prefix}{segment_name(x.msn)}")
    hint = seg.next_part()
    if ll and hint is not None and (open_seg is not None or complete):
        lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{prefix}{part_name(*hint)}"')
    if seg.ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _parts(x: Segment, prefix: str) -> list[str]:
    out = []
    for p in x.parts:
        attrs = f'DURATION={p.duration:.5f},URI="{prefix}{part_name(p.msn, p.index)}"'
        if p.independent:
            attrs += ",INDEPENDENT=YES"
        out.append(f"#EXT-X-PART:{attrs}")
    return out
