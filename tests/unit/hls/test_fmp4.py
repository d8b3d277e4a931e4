"""CMAF fMP4 writer: box structure, sample data offsets, and ffprobe reading a real call."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.peers.procs import require_binary
from tests.unit.hls.helpers import ASC_48K_MONO, PPS, SPS, boxes, child, trun_samples
from tests.unit.record.frames import trace_frames
from wcs.hls import AudioConfig, HlsSettings, Segmenter, VideoConfig, init_segment
from wcs.hls.fmp4 import (
    NON_SYNC_FLAGS,
    SYNC_FLAGS,
    Sample,
    TrackRun,
    avc_sample,
    media_fragment,
)
from wcs.hls.playlist import render
from wcs.media.g711 import ulaw_decode
from wcs.rtmp.aac import AacEncoder

FFPROBE = Path(require_binary("ffprobe", "ffmpeg"))  # missing: a failure, not a skip


def test_init_segment_structure_video_and_audio() -> None:
    video = VideoConfig.from_parameter_sets(SPS, PPS)
    audio = AudioConfig.from_asc(ASC_48K_MONO)
    init = init_segment(video, audio)
    top = [k for k, _ in boxes(init)]
    assert top == [b"ftyp", b"moov"]
    moov = dict(boxes(init))[b"moov"]
    kinds = [k for k, _ in boxes(moov)]
    assert kinds == [b"mvhd", b"trak", b"trak", b"mvex"]
    traks = [p for k, p in boxes(moov) if k == b"trak"]
    # Video: avc1 sample entry with our SPS/PPS in the avcC, picture size from the SPS.
    stsd = child(traks[0], b"mdia", b"minf", b"stbl", b"stsd")
    entry_kind = stsd[12:16]
    assert entry_kind == b"avc1"
    avc1 = stsd[16:]
    assert struct.unpack_from("!HH", avc1, 24) == (352, 288)
    avcc = child(avc1, b"avcC", skip=78)
    assert avcc[1:4] == SPS[1:4] and SPS in avcc and PPS in avcc
    mdhd = child(traks[0], b"mdia", b"mdhd")
    assert struct.unpack_from("!I", mdhd, 12)[0] == 90000
    # Audio: mp4a with the AudioSpecificConfig inside the esds, timescale = sample rate.
    stsd = child(traks[1], b"mdia", b"minf", b"stbl", b"stsd")
    assert stsd[12:16] == b"mp4a"
    assert ASC_48K_MONO in stsd and b"esds" in stsd
    assert struct.unpack_from("!I", child(traks[1], b"mdia", b"mdhd"), 12)[0] == 48000
    trex = [p for k, p in boxes(child(moov, b"mvex")) if k == b"trex"]
    assert [struct.unpack_from("!I", t, 4)[0] for t in trex] == [1, 2]


def test_audio_only_init_has_one_track() -> None:
    moov = dict(boxes(init_segment(None, AudioConfig.from_asc(ASC_48K_MONO))))[b"moov"]
    assert [k for k, _ in boxes(moov)].count(b"trak") == 1


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        init_segment(None, None)
    with pytest.raises(ValueError):
        media_fragment(1, [TrackRun(1, 0, [])])
    with pytest.raises(ValueError):
        VideoConfig.from_parameter_sets(PPS, PPS)
    with pytest.raises(ValueError):
        AudioConfig.from_asc(b"\x11")
    with pytest.raises(ValueError):
        AudioConfig.from_asc(b"\x17\x88")  # sample rate index 14 does not exist


def test_fragment_offsets_point_at_each_tracks_samples() -> None:
    v = [Sample(3600, b"\x00\x00\x00\x02\x65\x01", True), Sample(3600, b"VV", False)]
    a = [Sample(1024, b"A1"), Sample(1024, b"A22")]
    frag = media_fragment(7, [TrackRun(1, 90000, v), TrackRun(2, 48000, a)])
    samples = trun_samples(frag)
    assert samples[1] == [(3600, 6, SYNC_FLAGS), (3600, 2, NON_SYNC_FLAGS)]
    assert samples[2] == [(1024, 2, SYNC_FLAGS), (1024, 3, SYNC_FLAGS)]
    moof = dict(boxes(frag))[b"moof"]
    assert struct.unpack_from("!I", child(moof, b"mfhd"), 4)[0] == 7
    offsets = []
    for kind, traf in boxes(moof):
        if kind == b"traf":
            offsets.append(struct.unpack_from("!i", child(traf, b"trun"), 8)[0])
    assert frag[offsets[0] : offsets[0] + 8] == b"\x00\x00\x00\x02\x65\x01VV"
    assert frag[offsets[1] : offsets[1] + 5] == b"A1A22"


def test_avc_sample_drops_delimiters_and_known_parameter_sets() -> None:
    config = VideoConfig.from_parameter_sets(SPS, PPS)
    new_pps = b"\x68\xce\x38\x80"
    out = avc_sample([b"\x09\xf0", SPS, PPS, new_pps, b"\x65\xaa"], config)
    assert out == b"\x00\x00\x00\x04" + new_pps + b"\x00\x00\x00\x02\x65\xaa"
    assert avc_sample([SPS, b""], None) == struct.pack("!I", len(SPS)) + SPS


def _trace_output(tmp_path: Path) -> tuple[Segmenter, int, int]:
    """The trace's call through the segmenter (G.711 → AAC as the RTMP push does it)."""
    frames = trace_frames()
    enc = AacEncoder(8000)
    seg = Segmenter(True, AudioConfig.from_asc(enc.audio_specific_config), HlsSettings())
    pictures = aac = 0
    for f in frames:
        if f.au is not None:
            seg.push_video(f.au, f.pts)
            pictures += 1
        elif f.audio is not None:
            for out in enc.encode(ulaw_decode(f.audio.payload), round(f.pts)):
                seg.push_audio(out.data, out.timestamp_ms)
                aac += 1
    seg.end()
    (tmp_path / "s.m3u8").write_text(render(seg))
    for init_id, data in seg.inits.items():
        (tmp_path / f"init{init_id}.mp4").write_bytes(data)
    for s in seg.segments:
        (tmp_path / f"seg{s.msn}.m4s").write_bytes(s.data)
    return seg, pictures, aac


def _probe(path: Path, *extra: str) -> dict[str, dict[str, Any]]:
    out = subprocess.run(
        [str(FFPROBE), "-v", "error", *extra, "-count_frames", "-show_entries",
         "stream=codec_type,codec_name,width,height,nb_read_frames,sample_rate",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return {s["codec_type"]: s for s in json.loads(out.stdout)["streams"]}


def test_ffprobe_reads_the_trace_as_init_plus_segments(tmp_path: Path) -> None:
    seg, pictures, aac = _trace_output(tmp_path)
    assert len(seg.inits) == 1 and len(seg.segments) >= 2
    whole = tmp_path / "whole.mp4"
    whole.write_bytes(seg.inits[1] + b"".join(s.data for s in seg.segments))
    streams = _probe(whole)
    video, audio = streams["video"], streams["audio"]
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 352, 288)
    assert int(video["nb_read_frames"]) == pictures == 46  # the trace starts on a keyframe
    assert audio["codec_name"] == "aac" and audio["sample_rate"] == "48000"
    # Audio before the first picture has no segment: the trace has 2 such 20 ms frames.
    assert 0 < seg.dropped_audio <= 3
    assert int(audio["nb_read_frames"]) == aac - seg.dropped_audio
    # Durations in the playlist add up to the media: 46 pictures and the audio span.
    total = sum(s.duration for s in seg.segments)
    first, last = trace_frames()[0].pts, trace_frames()[-1].pts
    assert abs(total - (last - first) / 1000) < 0.2


def test_ffprobe_reads_the_playlist(tmp_path: Path) -> None:
    seg, pictures, aac = _trace_output(tmp_path)
    streams = _probe(tmp_path / "s.m3u8")
    assert int(streams["video"]["nb_read_frames"]) == pictures
    assert int(streams["audio"]["nb_read_frames"]) == aac - seg.dropped_audio
