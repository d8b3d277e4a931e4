"""Recording SIP calls with the real peers: Kamailio (proxy, digest auth) and baresip (the
callee: a 1 kHz tone and H.264 video). The server runs as a subprocess (``wcs`` fixture);
files are checked with ffprobe and decoded with PyAV."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import av.logging
import pytest

from tests.integration.conftest import HookCollector, WcsFactory, WcsProcess
from tests.integration.test_calls_real_peers import call_body, new_id, start
from tests.peers.baresip import Callee
from tests.peers.kamailio import Kamailio

CalleeFactory = Callable[..., Callee]

pytestmark = pytest.mark.peers


def probe(path: Path) -> dict[str, Any]:
    assert shutil.which("ffprobe"), "ffprobe is needed"
    res = subprocess.run(
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
        timeout=30,
    )
    assert res.returncode == 0, f"ffprobe cannot open {path.name}: {res.stderr}"
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def decode(path: Path) -> tuple[dict[str, list[float]], list[str]]:
    """Decoded frame times per kind, the first packet time per kind, and FFmpeg errors."""
    times: dict[str, list[float]] = {"video": [], "audio": []}
    errors: list[str] = []
    old = av.logging.get_level()
    av.logging.set_level(av.logging.WARNING)
    try:
        with av.logging.Capture() as logs, av.open(str(path)) as c:
            for packet in c.demux():
                try:
                    for frame in packet.decode():
                        times[packet.stream.type].append(float(getattr(frame, "time", None) or 0.0))
                except av.error.FFmpegError as exc:
                    errors.append(str(exc))
        errors += [msg for level, _name, msg in logs if level <= av.logging.ERROR]
    finally:
        av.logging.set_level(old)
    return times, errors


def start_ms(path: Path) -> float:
    with av.open(str(path)) as c:
        m = re.search(r"start_ms=([\d.]+)", c.metadata.get("comment", ""))
    assert m, f"{path.name}: no start_ms in the comment tag"
    return float(m.group(1))


def stream_of(server: WcsProcess, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, found = server.rest("stream/find", {"name": name})
        if status == 200:
            return dict(found[0])
        time.sleep(0.1)
    raise AssertionError(f"stream {name} not published")


def wait_files(folder: Path, n: int, timeout: float = 20.0) -> list[Path]:
    """At least ``n`` finished files (names without the {endTime} placeholder), none pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = [p for p in folder.iterdir()] if folder.exists() else []
        done = [p for p in names if "{endTime}" not in p.name]
        if len(done) >= n and len(done) == len(names):
            return sorted(done, key=start_ms)
        time.sleep(0.1)
    raise AssertionError(f"files in {folder}: {sorted(p.name for p in folder.iterdir())}")


def first_packet_times(path: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    with av.open(str(path)) as c:
        for packet in c.demux():
            kind = packet.stream.type
            if packet.pts is not None and kind not in out:
                out[kind] = float(packet.pts * packet.time_base)
    return out


def test_av_call_recorded_automatically(
    kamailio: Kamailio,
    callee: CalleeFactory,
    wcs: WcsFactory,
    hooks: HookCollector,
    tmp_path: Path,
) -> None:
    records = tmp_path / "records"
    peer = callee()
    server = start(
        wcs,
        hooks,
        record_sip_streams="true",
        record_dir=str(records),
        record_template="{streamName}-{startTime}-{endTime}",
    )
    cid = new_id()
    assert server.rest("call/startup", call_body(kamailio, cid, peer.user))[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    established = time.monotonic()
    stream = stream_of(server, f"stream_{cid}")
    time.sleep(6.0)
    # In progress: listed, the name still has the placeholder.
    status, found = server.rest("recorder/find_all")
    assert status == 200
    assert found == [
        {
            "fileName": found[0]["fileName"],
            "mediaSessionId": stream["mediaSessionId"],
            "streamName": f"stream_{cid}",
        }
    ]
    assert found[0]["fileName"].startswith(f"stream_{cid}-") and "{endTime}" in found[0]["fileName"]
    assert (records / found[0]["fileName"]).exists()
    assert server.rest("call/terminate", {"callId": cid})[0] == 200
    call_s = time.monotonic() - established
    hooks.wait_status(cid, "FINISH")
    [path] = wait_files(records, 1)
    assert server.rest("recorder/find_all")[0] == 404
    info = probe(path)
    codecs = sorted((s["codec_type"], s["codec_name"]) for s in info["streams"])
    assert codecs == [("audio", "aac"), ("video", "h264")]
    duration = float(info["format"]["duration"])
    size = path.stat().st_size
    print(f"\nrecorded {path.name}: {size} bytes, {duration:.3f} s, call {call_s:.3f} s")
    assert abs(duration - call_s) <= 0.5
    times, errors = decode(path)
    assert errors == []
    assert len(times["video"]) >= 15 * (call_s - 1.5)  # baresip sends 15 fps
    firsts = first_packet_times(path)
    print(f"first packets: {firsts}")
    assert abs(firsts["audio"] - firsts["video"]) <= 0.1
    assert "recording to" in server.log()


def test_audio_only_call_to_mp4_aac_and_clean_stop(
    kamailio: Kamailio,
    callee: CalleeFactory,
    wcs: WcsFactory,
    hooks: HookCollector,
    tmp_path: Path,
) -> None:
    records = tmp_path / "records"
    peer = callee(media="audio")
    server = start(
        wcs,
        hooks,
        record_sip_streams="true",
        record_dir=str(records),
        record_template="{streamName}-{audioCodec}-{endTime}",
    )
    cid = new_id()
    body = call_body(kamailio, cid, peer.user, hasVideo="false")
    assert server.rest("call/startup", body)[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    time.sleep(3.0)
    assert server.stop() == 0  # SIGTERM: a clean stop finalizes the file (and renames it)
    [path] = wait_files(records, 1)
    assert path.suffix == ".mp4" and path.name.startswith(f"stream_{cid}-aac-")
    info = probe(path)
    assert [s["codec_name"] for s in info["streams"]] == ["aac"]
    assert info["format"]["format_name"].startswith("mov,mp4")
    times, errors = decode(path)
    assert errors == [] and times["audio"][-1] > 2.0


def test_kill_9_leaves_a_playable_file(
    kamailio: Kamailio,
    callee: CalleeFactory,
    wcs: WcsFactory,
    hooks: HookCollector,
    tmp_path: Path,
) -> None:
    records = tmp_path / "records"
    peer = callee()
    server = start(
        wcs,
        hooks,
        record_sip_streams="true",
        record_dir=str(records),
        record_template="{streamName}-{endTime}",
    )
    cid = new_id()
    assert server.rest("call/startup", call_body(kamailio, cid, peer.user))[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    established = time.monotonic()
    time.sleep(6.0)
    os.kill(server.proc.pid, signal.SIGKILL)
    killed_after = time.monotonic() - established
    server.proc.wait(10)
    [path] = [p for p in records.iterdir()]
    assert "{endTime}" in path.name  # never finalized
    info = probe(path)
    assert sorted(s["codec_name"] for s in info["streams"]) == ["aac", "h264"]
    times, errors = decode(path)
    assert errors == []
    print(
        f"\nkilled after {killed_after:.2f} s: {path.stat().st_size} bytes, "
        f"decoded video to {times['video'][-1]:.2f} s, audio to {times['audio'][-1]:.2f} s"
    )
    # Up to the last couple of seconds: fragments are cut at least every second.
    assert times["video"][-1] >= killed_after - 2.5
    assert times["audio"][-1] >= killed_after - 2.5


def test_rotation_by_rest_with_hook(
    kamailio: Kamailio,
    callee: CalleeFactory,
    wcs: WcsFactory,
    hooks: HookCollector,
    tmp_path: Path,
) -> None:
    records = tmp_path / "records"
    hook_log = tmp_path / "hook.log"
    script = f"import sys; open({str(hook_log)!r}, 'a').write(' '.join(sys.argv[1:]) + chr(10))"
    peer = callee()
    server = start(
        wcs, hooks, record_dir=str(records), on_record_hook=f'{sys.executable} -c "{script}"'
    )
    assert server.rest("recorder/find_all")[0] == 404
    assert server.rest("recorder/startup", {"mediaSessionId": "nope"})[0] == 404
    cid = new_id()
    assert server.rest("call/startup", call_body(kamailio, cid, peer.user))[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    msid = stream_of(server, f"stream_{cid}")["mediaSessionId"]
    status, body = server.rest(
        "recorder/startup", {"mediaSessionId": msid, "config": {"rotation": "fast"}}
    )
    assert status == 400 and body["field"] == "config.rotation"
    config = {"fileTemplate": "{streamName}-{startTime}-{endTime}", "rotation": "2s"}
    assert server.rest("recorder/startup", {"mediaSessionId": msid, "config": config}) == (
        200,
        None,
    )
    time.sleep(8.0)
    assert server.rest("recorder/terminate", {"mediaSessionId": msid}) == (200, None)
    assert server.rest("recorder/terminate", {"mediaSessionId": msid})[0] == 404
    files = wait_files(records, 2)
    server.rest("call/terminate", {"callId": cid})
    hooks.wait_status(cid, "FINISH")
    print(f"\n{len(files)} files: " + ", ".join(f"{p.name} {p.stat().st_size} B" for p in files))
    assert len(files) >= 3
    for a, b in itertools.pairwise(files):
        ta, errors = decode(a)
        assert errors == []
        interval = (ta["video"][-1] - ta["video"][0]) / (len(ta["video"]) - 1) * 1000
        gap = start_ms(b) - (start_ms(a) + ta["video"][-1] * 1000)
        print(f"{a.name} → {b.name}: video gap {gap:.1f} ms (frame interval {interval:.1f} ms)")
        assert gap <= 1.5 * interval  # the next picture, nothing lost in between
        tb, _ = decode(b)
        audio_gap = (
            start_ms(b) + tb["audio"][0] * 1000 - (start_ms(a) + ta["audio"][-1] * 1000 + 1024 / 48)
        )
        print(f"  audio gap {audio_gap:.1f} ms")
        assert audio_gap <= 1024 / 48 + 1  # at most one AAC frame (ms timestamps: +1)
        assert audio_gap >= -2 * 1024 / 48  # overlap: only the encoder's padding frames
    for p in files:
        assert first_packet_times(p)["video"] == 0.0  # each file starts on its keyframe
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        not hook_log.exists() or len(hook_log.read_text().splitlines()) < len(files)
    ):
        time.sleep(0.1)
    lines = hook_log.read_text().splitlines()
    assert sorted(lines) == sorted(f"stream_{cid} {p}" for p in files)


def test_hold_gap_stays_a_gap_in_both_tracks(
    kamailio: Kamailio,
    callee: CalleeFactory,
    wcs: WcsFactory,
    hooks: HookCollector,
    tmp_path: Path,
) -> None:
    """baresip on hold sends nothing for 3 s: both tracks keep the gap at its real length,
    so what follows stays in place (no track is pulled forward over the gap)."""
    records = tmp_path / "records"
    peer = callee()
    server = start(
        wcs,
        hooks,
        record_sip_streams="true",
        record_dir=str(records),
        record_template="{streamName}-{endTime}",
    )
    cid = new_id()
    assert server.rest("call/startup", call_body(kamailio, cid, peer.user))[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    established = time.monotonic()
    time.sleep(3)
    peer.ctrl("hold")
    hooks.wait_status(cid, "HOLD")
    time.sleep(3)
    peer.ctrl("resume")
    time.sleep(3)
    assert server.rest("call/terminate", {"callId": cid})[0] == 200
    call_s = time.monotonic() - established
    [path] = wait_files(records, 1)
    times, errors = decode(path)
    assert errors == []
    resumed = {}
    for kind in ("video", "audio"):
        t = times[kind]
        gaps = [(a, b) for a, b in itertools.pairwise(t) if b - a > 1.0]
        print(f"\n{kind}: {len(t)} frames, gaps {[(round(a, 3), round(b, 3)) for a, b in gaps]}")
        assert len(gaps) == 1 and gaps[0][1] - gaps[0][0] >= 2.5
        resumed[kind] = gaps[0][1]
    assert abs(resumed["audio"] - resumed["video"]) <= 0.5
    assert abs(float(probe(path)["format"]["duration"]) - call_s) <= 0.5
