"""Media playlist rendering, blocking reload decisions, names, and the checker itself."""

from __future__ import annotations

import pytest

from wcs.hls import (
    BadRequest,
    BlockingRequest,
    HlsSettings,
    Ready,
    Resource,
    Segmenter,
    Wait,
    decide,
    parse_name,
    parse_query,
    render,
)
from wcs.hls.blocking import advance_part_limit
from wcs.hls.validate import PlaylistHistory, check_playlist

from .helpers import audio_config, drive


def live(seconds: float = 9.0, **settings: float) -> Segmenter:
    seg = Segmenter(True, audio_config(), HlsSettings(**settings))  # type: ignore[arg-type]
    drive(seg, seconds, gop=1.0)
    return seg


def test_header_tags_and_their_values() -> None:
    text = render(live(), epoch=1_700_000_000.0)
    lines = text.splitlines()
    assert lines[:6] == [
        "#EXTM3U",
        "#EXT-X-VERSION:9",
        "#EXT-X-TARGETDURATION:2",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.00002",
        "#EXT-X-PART-INF:PART-TARGET=0.33334",
        "#EXT-X-MEDIA-SEQUENCE:0",
    ]
    assert lines[6] == '#EXT-X-MAP:URI="init1.mp4"'
    assert lines[7] == "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z"
    assert lines[-1].startswith("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=")
    assert check_playlist(text).errors == []


def test_part_hold_back_is_three_part_targets() -> None:
    s = HlsSettings(part_target=0.5, target_duration=4)
    assert s.part_hold_back == 1.5 and s.playlist_target == 4 and s.hold_limit == 12


def test_parts_listed_only_near_the_end_and_uri_prefix() -> None:
    seg = live(14.0)
    checked = check_playlist(render(seg, prefix="/live/"))
    assert checked.errors == []
    with_parts = [s.msn for s in checked.segments if s.parts]
    whole_only = [s.msn for s in checked.segments if not s.parts]
    assert whole_only and with_parts and max(whole_only) < min(with_parts)
    assert sum(s.duration or 0 for s in checked.segments if s.parts) <= 3 * 2
    assert all(s.uri and s.uri.startswith("/live/seg") for s in checked.segments if s.uri)


def test_plain_hls_has_no_low_latency_tags() -> None:
    seg = Segmenter(True, None, HlsSettings(low_latency=False))
    drive(seg, 7.0, audio=False)
    text = render(seg)
    for tag in ("EXT-X-PART", "PRELOAD-HINT", "SERVER-CONTROL"):
        assert tag not in text
    assert check_playlist(text).errors == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, BlockingRequest()),
        ({"_HLS_msn": "4"}, BlockingRequest(4)),
        ({"_HLS_msn": "4", "_HLS_part": "2"}, BlockingRequest(4, 2)),
        ({"_HLS_part": "2"}, BadRequest("_HLS_part without _HLS_msn")),
        ({"_HLS_msn": "-1"}, BadRequest("_HLS_msn must be a non-negative integer")),
        ({"_HLS_msn": "1e3"}, BadRequest("_HLS_msn must be a non-negative integer")),
        ({"_HLS_msn": "9" * 40}, BadRequest("_HLS_msn must be a non-negative integer")),
        (
            {"_HLS_msn": "1", "_HLS_part": "x"},
            BadRequest("_HLS_part must be a non-negative integer"),
        ),
    ],
)
def test_parse_query(query: dict[str, str], expected: object) -> None:
    assert parse_query(query) == expected


def test_blocking_decisions_follow_the_playlist() -> None:
    seg = live(9.0)  # segments 0..3 complete, segment 4 open with some parts
    hint = seg.next_part()
    assert hint is not None
    cur, parts = hint
    assert cur == 4 and parts > 0
    assert decide(seg, BlockingRequest()) == Ready()
    assert decide(seg, BlockingRequest(3)) == Ready()
    assert decide(seg, BlockingRequest(4)) == Wait(4, None)
    assert decide(seg, BlockingRequest(5)) == Wait(5, None)  # last complete + 2
    assert isinstance(decide(seg, BlockingRequest(6)), BadRequest)
    assert decide(seg, BlockingRequest(4, parts - 1)) == Ready()
    assert decide(seg, BlockingRequest(4, parts)) == Wait(4, parts)
    # A part index past the end of a complete segment means the next segment's parts.
    done = seg.segment(3)
    assert done is not None
    assert decide(seg, BlockingRequest(3, len(done.parts))) == Ready()
    assert decide(seg, BlockingRequest(3, len(done.parts) + parts)) == Wait(4, parts)
    limit = advance_part_limit(seg.settings.part_target)
    assert limit == 9
    assert decide(seg, BlockingRequest(4, parts - 1 + limit)) == Wait(4, parts - 1 + limit)
    assert isinstance(decide(seg, BlockingRequest(4, parts + limit)), BadRequest)
    seg.end()
    assert decide(seg, BlockingRequest(5, 3)) == Ready()  # nothing more will come


def test_advance_part_limit() -> None:
    assert advance_part_limit(0.5) == 6
    assert advance_part_limit(1.0) == 3 and advance_part_limit(2.0) == 3


@pytest.mark.parametrize(
    ("name", "resource"),
    [
        ("cam.m3u8", Resource("playlist")),
        ("init1.mp4", Resource("init", 1)),
        ("seg12.m4s", Resource("segment", 12)),
        ("part12.3.m4s", Resource("part", 12, 3)),
        ("other.m3u8", None),
        ("../cam.m3u8", None),
        ("seg12.m4s/..", None),
        ("seg-1.m4s", None),
        ("part1.m4s", None),
        ("init1.mp4\x00", None),
        ("seg" + "9" * 13 + ".m4s", None),
        ("", None),
    ],
)
def test_names(name: str, resource: Resource | None) -> None:
    assert parse_name(name, "cam") == resource


GOOD = """#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0
#EXT-X-PART-INF:PART-TARGET=0.33334
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-MAP:URI="init1.mp4"
#EXT-X-PART:DURATION=0.33,URI="part7.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33,URI="part7.1.m4s"
#EXTINF:0.66000,
seg7.m4s
#EXT-X-PART:DURATION=0.2,URI="part8.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part8.1.m4s"
"""


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("#EXTM3U\n", "", "#EXTM3U"),
        ("#EXT-X-TARGETDURATION:2\n", "", "no EXT-X-TARGETDURATION"),
        ("#EXT-X-TARGETDURATION:2\n", "#EXT-X-TARGETDURATION:0\n", "rounds above"),
        ("DURATION=0.2,", "DURATION=0.4,", "exceeds PART-TARGET"),
        ("PART-HOLD-BACK=1.0", "PART-HOLD-BACK=0.5", "under twice"),
        ("CAN-BLOCK-RELOAD=YES,", "", "CAN-BLOCK-RELOAD"),
        ("#EXT-X-PART-INF:PART-TARGET=0.33334\n", "", "without EXT-X-PART-INF"),
        ("#EXTINF:0.66000,", "#EXTINF:0.9,", "parts sum"),
        ("part7.1.m4s", "part7.2.m4s", "is not part 1 of segment 7"),
        ("seg7.m4s", "seg8.m4s", "is not segment 7"),
        ("part8.1.m4s", "part8.2.m4s", "not the next part"),
        ('#EXT-X-MAP:URI="init1.mp4"\n', "", "before EXT-X-MAP"),
        ("#EXT-X-MEDIA-SEQUENCE:7\n", "", "is not segment 0"),
        ("seg7.m4s\n", "seg7.m4s\n#EXT-X-VERSION:9\n", "after the first media segment"),
        ("#EXT-X-VERSION:9", "#EXT-X-VERSION:5", "VERSION 6"),
        ("seg7.m4s\n", "seg7.m4s\n#EXT-X-ENDLIST\n", "after EXT-X-ENDLIST"),
        ("#EXTINF:0.66000,\n", "#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:0.66000,\n", "bad"),
    ],
)
def test_checker_catches_each_rule(old: str, new: str, complaint: str) -> None:
    assert check_playlist(GOOD).errors == []
    bad = GOOD.replace(old, new, 1)
    assert bad != GOOD
    errors = check_playlist(bad).errors
    assert any(complaint in e for e in errors), errors


def test_history_catches_numbering_that_steps_back_or_changes() -> None:
    history = PlaylistHistory()
    history.add(GOOD)
    assert history.errors == []
    history.add(GOOD.replace("#EXT-X-MEDIA-SEQUENCE:7", "#EXT-X-MEDIA-SEQUENCE:6"))
    assert any("stepped back" in e for e in history.errors)
    history = PlaylistHistory()
    history.add(GOOD)
    history.add(GOOD.replace('DURATION=0.33,URI="part7.1', 'DURATION=0.3,URI="part7.1'))
    assert any("changed duration" in e for e in history.errors)


def test_history_checks_the_discontinuity_sequence() -> None:
    with_disc = GOOD.replace("#EXT-X-MAP", "#EXT-X-DISCONTINUITY\n#EXT-X-MAP")
    history = PlaylistHistory()
    history.add(with_disc)
    slid = (
        GOOD.replace("#EXT-X-MEDIA-SEQUENCE:7", "#EXT-X-MEDIA-SEQUENCE:8")
        .replace('#EXT-X-PART:DURATION=0.33,URI="part7.0.m4s",INDEPENDENT=YES\n', "")
        .replace('#EXT-X-PART:DURATION=0.33,URI="part7.1.m4s"\n#EXTINF:0.66000,\nseg7.m4s\n', "")
    )
    history.add(slid)
    assert any("discontinuity sequence" in e for e in history.errors)
    history = PlaylistHistory()
    history.add(with_disc)
    history.add(
        slid.replace(
            "#EXT-X-MEDIA-SEQUENCE:8", "#EXT-X-MEDIA-SEQUENCE:8\n#EXT-X-DISCONTINUITY-SEQUENCE:1"
        )
    )
    assert history.errors == []


def test_resource_requests_ready_wait_or_not_found() -> None:
    from wcs.hls import NotFound, resource_decision

    seg = live(9.0)
    hint = seg.next_part()
    assert hint is not None
    cur, parts = hint
    assert resource_decision(seg, "init", 1) == Ready()
    assert resource_decision(seg, "init", 2) == NotFound()
    assert resource_decision(seg, "segment", cur - 1) == Ready()
    assert resource_decision(seg, "segment", cur) == Wait(cur, None)
    assert isinstance(resource_decision(seg, "segment", cur + 5), BadRequest)
    assert resource_decision(seg, "part", cur, parts - 1) == Ready()
    assert resource_decision(seg, "part", cur, parts) == Wait(cur, parts)  # the preload hint
    assert isinstance(resource_decision(seg, "part", cur, parts + 50), BadRequest)
    assert resource_decision(seg, "part", cur - 1, 99) == NotFound()  # complete: never
    seg.end()
    assert resource_decision(seg, "part", cur + 1, 0) == NotFound()
    assert resource_decision(seg, "segment", cur + 1) == NotFound()
    assert resource_decision(seg, "playlist", 0) == NotFound()
