"""The recorder fed frames without a server: a real Stream and StreamHub, the manager, the
writer thread and PyAV; the files are checked with PyAV and ffprobe."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import pytest

from wcs.app.streams import StreamHub, TrackInfo
from wcs.record.manager import RecorderManager

from .frames import Frame, synthetic_frames, trace_frames

pytestmark = pytest.mark.asyncio


def probe(path: Path) -> dict[str, Any]:
    assert shutil.which("ffprobe"), "ffprobe is needed"
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def decode_all(path: Path) -> dict[str, list[float]]:
    """Decoded frame times per kind; raises on any decoding error."""
    times: dict[str, list[float]] = {"video": [], "audio": []}
    with av.open(str(path)) as c:
        for packet in c.demux():
            for frame in packet.decode():
                times[packet.stream.type].append(float(getattr(frame, "time", None) or 0.0))
    return times


def start_ms(path: Path) -> float:
    with av.open(str(path)) as c:
        m = re.search(r"start_ms=([\d.]+)", c.metadata.get("comment", ""))
    assert m, "no start_ms in the file's comment"
    return float(m.group(1))


async def record(
    tmp_path: Path, frames: list[Frame], video: bool = True, **manager_kw: Any
) -> tuple[RecorderManager, list[Path]]:
    hub = StreamHub()
    kw = {"template": "{streamName}-{startTime}-{endTime}", **manager_kw}
    manager = RecorderManager(hub, tmp_path, auto=True, **kw)
    stream = hub.publish("cam1", call_id="call-1", app_key="app")
    tracks = {"audio": TrackInfo("audio", "PCMU", 8000)}
    if video:
        tracks["video"] = TrackInfo("video", "H264", 90000)
    stream.set_tracks(tracks)
    assert manager.all()[0].media_session_id == stream.stream.media_session_id
    for f in frames:
        if f.au is not None:
            if video:
                stream.feed_video(f.au, f.pts)
        elif f.audio is not None:
            stream.feed_audio(f.audio, f.pts)
    stream.unpublish("Stopped by publisher stop")
    assert manager.all() == []
    await manager.close()
    return manager, sorted(tmp_path.glob("cam1-*"), key=start_ms)


async def test_trace_call_to_mp4(tmp_path: Path) -> None:
    frames = trace_frames()
    _, files = await record(tmp_path, frames)
    assert len(files) == 1
    info = probe(files[0])
    codecs = {s["codec_type"]: s["codec_name"] for s in info["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}
    assert files[0].suffix == ".mp4" and "{endTime}" not in files[0].name
    times = decode_all(files[0])
    # Every picture from the first keyframe on is in the file and decodes.
    first_key = next(i for i, f in enumerate(frames) if f.au is not None and f.au.keyframe)
    assert len(times["video"]) == sum(1 for f in frames[first_key:] if f.au is not None)
    assert times["video"][0] == 0.0
    assert abs(times["audio"][0] - times["video"][0]) < 0.1
    # Media after the first keyframe: 46 pictures at 15 fps ≈ 3 s.
    last_pts = max(f.pts for f in frames) - frames[first_key].pts
    assert abs(float(info["format"]["duration"]) - last_pts / 1000) < 0.1


async def test_audio_only_to_mp4_aac(tmp_path: Path) -> None:
    _, files = await record(tmp_path, trace_frames(), video=False)
    info = probe(files[0])
    assert [s["codec_name"] for s in info["streams"]] == ["aac"]
    assert info["format"]["format_name"].startswith("mov,mp4")
    times = decode_all(files[0])
    assert len(times["audio"]) > 140  # 153 G.711 frames of 20 ms → ≈ 144 AAC frames


async def test_rotation_is_gapless_and_hook_runs_per_file(tmp_path: Path) -> None:
    log = tmp_path / "hook.log"
    script = f"import sys; open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + chr(10))"
    hook = f'{sys.executable} -c "{script}"'
    frames = synthetic_frames(5.0, fps=25, gop=10)  # a keyframe every 400 ms
    out = tmp_path / "rec"
    manager, files = await record(out, frames, rotation="1s", hook=hook)
    assert 4 <= len(files) <= 5
    total_video = 0
    for a, b in itertools.pairwise(files):
        ta = decode_all(a)
        gap_ms = start_ms(b) - (start_ms(a) + ta["video"][-1] * 1000)
        assert 0 < gap_ms <= 40.0 + 1  # exactly one frame interval: nothing lost, nothing doubled
        audio_end = start_ms(a) + ta["audio"][-1] * 1000 + 1024 / 48
        first_audio_b = start_ms(b) + decode_all(b)["audio"][0] * 1000
        assert first_audio_b - audio_end <= 20.0 + 1  # at most one audio frame apart
    for f in files:
        times = decode_all(f)
        total_video += len(times["video"])
        assert times["video"][0] == 0.0  # each file starts on its keyframe
    assert total_video == sum(1 for f in frames if f.au is not None)
    lines = log.read_text().splitlines()
    assert sorted(lines) == sorted(f"cam1 {f}" for f in files)
    assert [r[2] for r in manager.hook_runs] == [0] * len(files)


async def test_restart_closes_the_file_and_starts_a_new_one(tmp_path: Path) -> None:
    hub = StreamHub()
    manager = RecorderManager(hub, tmp_path, "{streamName}-{startTime}")
    stream = hub.publish("cam2", call_id=None, app_key="app")
    stream.set_tracks(
        {"video": TrackInfo("video", "H264", 90000), "audio": TrackInfo("audio", "PCMU", 8000)}
    )
    assert manager.all() == []  # not automatic
    frames = synthetic_frames(2.0)
    half = len(frames) // 2
    first = manager.start(stream.stream)
    for f in frames[:half]:
        if f.au is not None:
            stream.feed_video(f.au, f.pts)
        elif f.audio is not None:
            stream.feed_audio(f.audio, f.pts)
    name1 = manager.all()[0].file_name
    second = manager.start(stream.stream, template="{streamName}-second-{startTime}")
    assert first.finished and not second.finished
    for f in frames[half:]:
        if f.au is not None:
            stream.feed_video(f.au, f.pts)
    name2 = manager.all()[0].file_name
    assert name1 != name2 and "second" in name2
    assert manager.stop(stream.stream.media_session_id)
    assert not manager.stop(stream.stream.media_session_id)
    await manager.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name1, name2])
    for p in tmp_path.iterdir():
        assert decode_all(p)["video"][0] == 0.0


async def test_writer_does_not_block_the_loop_and_survives_bad_media(tmp_path: Path) -> None:
    """Garbage video after a good keyframe fails only that file; the loop keeps going."""
    hub = StreamHub()
    manager = RecorderManager(hub, tmp_path, "{streamName}", auto=True)
    stream = hub.publish("cam3", call_id="c", app_key="app")
    stream.set_tracks({"audio": TrackInfo("audio", "PCMU", 8000)})
    from wcs.media.audio import AudioFrame

    stream.feed_audio(AudioFrame("PCMU", 0, 8000, b"\xff" * 160, 160), 0.0)
    stream.feed_audio(AudioFrame("PCMU", 160, 8000, b"", 0), 20.0)  # empty payload
    stream.unpublish("done")
    await asyncio.wait_for(manager.close(), 10)
    assert (tmp_path / "cam3.mp4").exists()


async def test_hold_gap_keeps_audio_and_video_in_sync(tmp_path: Path) -> None:
    """3 s without any media in the middle (a hold): both tracks resume at the same time."""
    frames = synthetic_frames(4.0, fps=25, gop=25)
    gapped = [f if f.pts < 2000 else Frame(f.kind, f.pts + 3000, f.au, f.audio) for f in frames]
    _, [path] = await record(tmp_path, gapped)
    times = decode_all(path)
    v_after = next(t for t in times["video"] if t > 2.5)
    a_after = next(t for t in times["audio"] if t > 2.5)
    assert abs(v_after - 5.0) < 0.001  # the first picture after the gap, at its source time
    assert abs(a_after - v_after) <= 0.03  # audio resumes with it (first audio at 5.005 s)


def opus_frames(seconds: float) -> list[Frame]:
    from fractions import Fraction

    from wcs.media.audio import AudioFrame

    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate = 48000
    enc.layout = "stereo"
    enc.format = "s16"
    enc.time_base = Fraction(1, 48000)
    enc.open()
    out = []
    for k in range(int(seconds * 50)):
        pcm = av.AudioFrame(format="s16", layout="stereo", samples=960)
        pcm.planes[0].update(bytes(960 * 4))
        pcm.sample_rate = 48000
        pcm.pts = k * 960
        for packet in enc.encode(pcm):
            frame = AudioFrame("opus", k * 960, 48000, bytes(packet), 960)
            out.append(Frame("audio", k * 20.0 + 5.0, audio=frame))
    return out


@pytest.mark.parametrize(
    ("video", "container", "codecs"),
    [
        (True, ".mkv", ["h264", "opus"]),  # H.264 + Opus → Matroska, Opus passed through
        (False, ".mp4", ["aac"]),  # audio only → MP4 with AAC, whatever the codec
    ],
)
async def test_opus(tmp_path: Path, video: bool, container: str, codecs: list[str]) -> None:
    hub = StreamHub()
    manager = RecorderManager(hub, tmp_path, "{streamName}", auto=True)
    stream = hub.publish("op", call_id="c", app_key="app")
    tracks = {"audio": TrackInfo("audio", "opus", 48000, 2)}
    if video:
        tracks["video"] = TrackInfo("video", "H264", 90000)
    stream.set_tracks(tracks)
    frames = [f for f in synthetic_frames(2.0) if f.au is not None] + opus_frames(2.0)
    for f in sorted(frames, key=lambda f: f.pts):
        if f.au is not None and video:
            stream.feed_video(f.au, f.pts)
        elif f.audio is not None:
            stream.feed_audio(f.audio, f.pts)
    stream.unpublish("done")
    await manager.close()
    [path] = list(tmp_path.iterdir())
    assert path.suffix == container
    assert sorted(s["codec_name"] for s in probe(path)["streams"]) == codecs
    times = decode_all(path)
    assert times["audio"][-1] > 1.8
