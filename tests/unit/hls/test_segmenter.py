"""The LL-HLS segmenter: cuts, parts, keyframe requests, continuity, the window, the end.

Every scenario renders the playlist after every input and runs it through the RFC 8216bis
checker (``PlaylistHistory``), so each test also proves the rules hold at every moment.
"""

from __future__ import annotations

import itertools

from wcs.hls import (
    HlsSettings,
    InitChanged,
    KeyframeWanted,
    PartReady,
    Segmenter,
    SegmentReady,
    StreamEnded,
    render,
)
from wcs.hls.fmp4 import AUDIO_TRACK_ID, SYNC_FLAGS, VIDEO_TRACK_ID
from wcs.hls.model import HlsEvent
from wcs.hls.validate import PlaylistHistory

from .helpers import au, audio_config, drive, tfdt, trun_samples


def events(seg: Segmenter) -> list[HlsEvent]:
    out = []
    while (e := seg.next_event()) is not None:
        out.append(e)
    return out


def test_regular_keyframes_give_target_length_independent_segments() -> None:
    seg = Segmenter(True, audio_config())
    history = PlaylistHistory()
    drive(seg, 10.0, gop=1.0, history=history)
    assert history.errors == []
    done = [s for s in seg.segments if s.complete]
    assert len(done) == 4
    assert all(abs(s.duration - 2.0) < 1e-9 for s in done)
    assert all(s.independent for s in done)
    for s in done:
        assert [p.index for p in s.parts] == list(range(len(s.parts)))
        assert all(p.duration <= seg.settings.part_target for p in s.parts)
        assert [p.independent for p in s.parts] == [True] + [False] * (len(s.parts) - 1)
    # Keyframes come on their own: at most one request per segment, made before the cut.
    assert seg.keyframe_requests <= len(seg.segments)


def test_every_picture_and_audio_frame_lands_in_exactly_one_part() -> None:
    seg = Segmenter(True, audio_config())
    drive(seg, 6.0, gop=1.0)
    seg.end()
    video = audio = 0
    v_time = a_time = None
    for s in seg.segments:
        for p in s.parts:
            runs = trun_samples(p.data)
            if VIDEO_TRACK_ID in runs:
                start = tfdt(p.data, VIDEO_TRACK_ID)
                assert v_time is None or start == v_time  # decode times continue exactly
                v_time = start + sum(d for d, _, _ in runs[VIDEO_TRACK_ID])
                video += len(runs[VIDEO_TRACK_ID])
            if AUDIO_TRACK_ID in runs:
                start = tfdt(p.data, AUDIO_TRACK_ID)
                assert a_time is None or start == a_time
                a_time = start + sum(d for d, _, _ in runs[AUDIO_TRACK_ID])
                audio += len(runs[AUDIO_TRACK_ID])
                assert all(f == SYNC_FLAGS for _, _, f in runs[AUDIO_TRACK_ID])
    assert video == 150
    assert audio == int(6000 / (1024 / 48)) - seg.dropped_audio
    assert seg.dropped_audio == 0  # audio starts 3 ms after the first keyframe


def test_rare_keyframes_ask_for_one_and_cut_below_the_limit() -> None:
    seg = Segmenter(True, audio_config())
    history = PlaylistHistory()
    drive(seg, 12.0, gop=10.0, history=history)
    assert history.errors == []
    evs = events(seg)
    wanted = [e for e in evs if isinstance(e, KeyframeWanted)]
    done = [s for s in seg.segments if s.complete]
    assert len(wanted) >= len(done)
    assert all(round(s.duration) <= 2 for s in done)
    assert all(s.duration <= seg.settings.hard_limit for s in done)
    # The first segment starts with the keyframe; the forced cuts start without one, until
    # the next keyframe at 10 s cuts as soon as the segment is long enough.
    assert done[0].independent
    assert not done[1].independent
    assert any(s.independent and s.start >= 10.0 for s in seg.segments)


def test_pictures_before_the_first_keyframe_are_dropped_and_one_is_asked_for() -> None:
    seg = Segmenter(True, None)
    for i in range(5):
        seg.push_video(au(i * 3600, False), i * 40.0)
    assert seg.dropped_before_keyframe == 5
    assert [type(e) for e in events(seg)] == [KeyframeWanted]
    assert seg.next_part() is None and render(seg).count("#EXT-X-PRELOAD-HINT") == 0
    seg.push_video(au(5 * 3600, True), 200.0)
    seg.push_video(au(6 * 3600, False), 240.0)
    assert [type(e) for e in events(seg)] == [InitChanged]
    assert seg.next_part() == (0, 0)


def test_timestamps_stepping_back_keep_numbering_and_decode_times_continuous() -> None:
    """A new source (SSRC change) whose pts restart: nothing steps back in the output."""
    seg = Segmenter(True, audio_config())
    history = PlaylistHistory()
    end = drive(seg, 5.0, gop=1.0, history=history)
    drive(seg, 5.0, gop=1.0, start_ms=end - 4000.0, history=history)  # 4 s back in time
    seg.end()
    history.add(render(seg))
    assert history.errors == []
    msns = [s.msn for s in seg.segments]
    assert msns == list(range(msns[0], msns[0] + len(msns)))
    times = [tfdt(p.data, VIDEO_TRACK_ID) for s in seg.segments for p in s.parts]
    assert times == sorted(times) and len(set(times)) == len(times)
    audio_times = [
        tfdt(p.data, AUDIO_TRACK_ID)
        for s in seg.segments
        for p in s.parts
        if AUDIO_TRACK_ID in trun_samples(p.data)
    ]
    assert audio_times == sorted(audio_times)


def test_a_gap_in_the_source_never_makes_a_part_longer_than_the_target() -> None:
    seg = Segmenter(True, None)
    history = PlaylistHistory()
    end = drive(seg, 3.0, gop=1.0, audio=False, history=history)
    drive(seg, 3.0, gop=1.0, audio=False, start_ms=end + 3000.0, history=history)
    assert history.errors == []
    parts = [p for s in seg.segments for p in s.parts]
    assert max(p.duration for p in parts) <= seg.settings.part_target
    # The hole stays in the timeline: the segment after it starts 3 s later.
    starts = [s.start for s in seg.segments]
    assert any(b - a > 3.0 for a, b in itertools.pairwise(starts))


def test_parameter_set_change_starts_a_new_init_and_a_discontinuity() -> None:
    from .helpers import PPS

    seg = Segmenter(True, None)
    history = PlaylistHistory()
    drive(seg, 3.0, gop=1.0, audio=False, history=history)
    other_pps = PPS[:-1] + b"\xc9"
    t = 3000.0
    for i in range(50):
        unit = au(round(t * 90), i % 25 == 0)
        if unit.keyframe:
            unit.nals[1] = other_pps
        seg.push_video(unit, t)
        history.add(render(seg, epoch=1.0))
        t += 40
    assert history.errors == []
    assert sorted(seg.inits) == [1, 2]
    changed = [s for s in seg.segments if s.init_id == 2]
    assert changed[0].discontinuity and changed[0].independent
    text = render(seg)
    assert '#EXT-X-MAP:URI="init2.mp4"' in text and "#EXT-X-DISCONTINUITY" in text
    assert text.index("#EXT-X-DISCONTINUITY") < text.index("init2.mp4")


def test_window_slides_and_retains_what_left_the_playlist() -> None:
    settings = HlsSettings(window=3, retain=2)
    seg = Segmenter(True, None, settings)
    history = PlaylistHistory()
    drive(seg, 20.0, gop=1.0, audio=False, history=history)
    assert history.errors == []
    checked = history.add(render(seg))
    complete = [s for s in checked.segments if s.duration is not None]
    assert len(complete) == 3
    assert checked.media_sequence == complete[0].msn > 0
    assert seg.segment_data(checked.media_sequence - 2) is not None  # retained
    assert seg.segment_data(checked.media_sequence - 4) is None  # gone
    assert len(seg.segments) <= settings.window + settings.retain + 1


def test_discontinuity_sequence_counts_what_left_the_window() -> None:
    from .helpers import PPS

    seg = Segmenter(True, None, HlsSettings(window=2, retain=0))
    history = PlaylistHistory()
    t = drive(seg, 4.0, gop=1.0, audio=False, history=history)
    for i in range(300):
        unit = au(round(t * 90), i % 25 == 0)
        if unit.keyframe:  # the new source's parameter sets, from its first keyframe on
            unit.nals[1] = PPS[:-1] + b"\xc9"
        seg.push_video(unit, t)
        history.add(render(seg))
        t += 40
    assert history.errors == []
    assert seg.discontinuity_sequence == 1


def test_audio_only_stream() -> None:
    seg = Segmenter(False, audio_config())
    history = PlaylistHistory()
    for k in range(500):  # ~10.7 s of 48 kHz AAC
        seg.push_audio(b"\x21" + bytes(10), k * 1024 / 48)
        history.add(render(seg, epoch=0.0))
    seg.end()
    history.add(render(seg))
    assert history.errors == []
    assert list(seg.inits) == [1]
    done = [s for s in seg.segments if s.complete]
    assert all(s.duration <= 2.0 for s in done) and all(s.independent for s in done)
    assert all(p.independent for s in done for p in s.parts)
    assert sum(len(trun_samples(p.data)[AUDIO_TRACK_ID]) for s in done for p in s.parts) == 500
    assert VIDEO_TRACK_ID not in trun_samples(done[0].parts[0].data)


def test_end_flushes_and_announces() -> None:
    seg = Segmenter(True, audio_config())
    drive(seg, 3.0, gop=1.0)
    events(seg)
    seg.end()
    evs = events(seg)
    assert isinstance(evs[-1], StreamEnded)
    assert any(isinstance(e, SegmentReady) for e in evs)
    assert all(s.complete for s in seg.segments)
    assert seg.next_part() is None
    text = render(seg)
    assert text.rstrip().endswith("#EXT-X-ENDLIST") and "PRELOAD-HINT" not in text
    before = len(seg.segments)
    seg.push_video(au(0, True), 5000.0)  # ignored after the end
    seg.end()
    assert len(seg.segments) == before and seg.next_event() is None


def test_part_events_match_the_parts() -> None:
    seg = Segmenter(True, audio_config())
    drive(seg, 4.0, gop=1.0)
    ready = [(e.msn, e.index) for e in events(seg) if isinstance(e, PartReady)]
    held = [(p.msn, p.index) for s in seg.segments for p in s.parts]
    assert ready == held
    for msn, index in ready:
        assert seg.part_data(msn, index) is not None
    assert seg.part_data(0, 99) is None and seg.segment_data(99) is None
