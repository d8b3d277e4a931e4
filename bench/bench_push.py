"""CPU per RTMP push (transcoding included) for one audio+video call's worth of frames.

Media: the callee's H.264 (352x288, 15 fps) and PCMU of conformance/traces/02-call-av.pcap,
looped to ``SECONDS`` of media. Three figures, as CPU time of this process (all threads)
per second of media, i.e. the share of one core one push costs:

1. the conversion alone (``PushPipeline``: G.711 → PCM → AAC 48 kHz, FLV muxing);
2. the same, audio only (what an audio-only call costs);
3. the whole push: a stream of the hub → ``PushJob`` (worker thread, chunking, socket) →
   a local nginx-rtmp (started here, stopped at the end), frames fed a second at a time
   as fast as the push drains them.

Run from the repository root: ``python3 bench/bench_push.py [seconds]``. Needs nginx with
the RTMP module (tests/peers/install-peers.sh).
"""

from __future__ import annotations

import asyncio
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.peers.rtmp import start_nginx_rtmp
from wcs.app.streams import StreamHub, TrackInfo
from wcs.media.audio import AudioFrame
from wcs.media.h264.nal import AccessUnit
from wcs.pcap import read_pcap
from wcs.rtmp.pipeline import PushPipeline
from wcs.rtmp.push import PushManager, PushRequest, PushStatus

TRACE = Path(__file__).resolve().parent.parent / "conformance" / "traces" / "02-call-av.pcap"
CALLEE_VIDEO_PORT, CALLEE_AUDIO_PORT = 20012, 20028
SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 60

Item = tuple[float, str, object]  # (pts ms, "v"/"a", NAL list / PCMU payload)


def _payload(b: bytes) -> bytes:
    off = 12 + 4 * (b[0] & 0x0F)
    if b[0] & 0x10:
        off += 4 + 4 * int.from_bytes(b[off + 2 : off + 4], "big")
    return b[off : len(b) - (b[-1] if b[0] & 0x20 else 0)]


def load(seconds: int) -> list[Item]:
    frames: dict[int, list[bytes]] = {}
    audio: list[tuple[int, bytes]] = []
    for p in read_pcap(TRACE):
        b = p.payload
        if p.proto != "udp" or len(b) < 12 or b[0] >> 6 != 2:
            continue
        pt, ts = b[1] & 0x7F, struct.unpack("!I", b[4:8])[0]
        if p.src[1] == CALLEE_VIDEO_PORT and pt == 96:
            frames.setdefault(ts, []).append(_payload(b))  # single NAL unit mode
        elif p.src[1] == CALLEE_AUDIO_PORT and pt == 0:
            audio.append((ts, _payload(b)))
    v0, a0 = min(frames), audio[0][0]
    video = [((ts - v0) / 90, nals) for ts, nals in sorted(frames.items())]
    pcm = [((ts - a0) / 8, payload) for ts, payload in audio]
    period = video[-1][0] + (video[1][0] - video[0][0])
    items: list[Item] = []
    loops = int(seconds * 1000 // period) + 1
    for i in range(loops):
        base = 1000 + i * period
        items += [(base + ts, "v", nals) for ts, nals in video]
        items += [(base + ts, "a", p) for ts, p in pcm if ts < period]
    items.sort(key=lambda it: it[0])
    end = 1000 + seconds * 1000
    return [it for it in items if it[0] < end]


def bench_pipeline(items: list[Item], video: bool) -> float:
    pipe = PushPipeline(video=video, audio_codec="PCMU")
    t0 = time.process_time()
    for ts, kind, payload in items:
        if kind == "v":
            if video:
                assert isinstance(payload, list)
                pipe.video(ts, payload)
        else:
            assert isinstance(payload, bytes)
            pipe.audio(ts, "PCMU", payload)
    pipe.flush()
    return time.process_time() - t0


async def bench_push(items: list[Item]) -> tuple[float, float, dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        nginx = start_nginx_rtmp(Path(tmp) / "nginx")
        try:
            hub = StreamHub()
            manager = PushManager(hub)
            stream = hub.publish("bench", call_id=None, app_key="bench")
            stream.set_tracks(
                {
                    "audio": TrackInfo("audio", "PCMU", 8000),
                    "video": TrackInfo("video", "H264", 90000),
                }
            )
            job = manager.startup(PushRequest("bench", f"rtmp://127.0.0.1:{nginx.port}/live"))
            while job.status is not PushStatus.PUBLISHING:
                await asyncio.sleep(0.01)
            attempt = job._attempt
            assert attempt is not None and attempt.worker is not None
            worker, pub = attempt.worker, attempt.publisher
            t0, w0 = time.process_time(), time.monotonic()
            step = 1000.0
            mark = items[0][0] + step
            for ts, kind, payload in items:
                if ts >= mark:  # one second of media fed: let the push drain it
                    mark += step
                    while worker.queued or pub.buffered() > 200_000:
                        await asyncio.sleep(0.001)
                if kind == "v":
                    assert isinstance(payload, list)
                    key = any(n[0] & 0x1F == 5 for n in payload)
                    stream.feed_video(AccessUnit(int(ts * 90), payload, keyframe=key), ts)
                else:
                    assert isinstance(payload, bytes)
                    stream.feed_audio(AudioFrame("PCMU", int(ts * 8), 8000, payload, 160), ts)
            while worker.queued:
                await asyncio.sleep(0.001)
            cpu, wall = time.process_time() - t0, time.monotonic() - w0
            stats: dict[str, object] = dict(job.stats())
            await manager.close()
            return cpu, wall, stats
        finally:
            nginx.stop()


def main() -> None:
    items = load(SECONDS)
    media_s = (items[-1][0] - items[0][0]) / 1000
    n_video = sum(1 for it in items if it[1] == "v")
    n_audio = len(items) - n_video
    print(f"media: {media_s:.1f} s, {n_video} video frames (352x288), {n_audio} PCMU frames")
    av_cpu = bench_pipeline(items, video=True)
    a_cpu = bench_pipeline(items, video=False)
    print(
        f"conversion, audio+video: {av_cpu / media_s * 100:.2f} % of a core "
        f"({av_cpu * 1e6 / n_audio:.0f} µs per 20 ms audio frame incl. its share of video)"
    )
    print(
        f"conversion, audio only:  {a_cpu / media_s * 100:.2f} % of a core "
        f"({a_cpu * 1e6 / n_audio:.0f} µs per 20 ms audio frame)"
    )
    cpu, wall, stats = asyncio.run(bench_push(items))
    print(
        f"whole push to nginx-rtmp, audio+video: {cpu / media_s * 100:.2f} % of a core "
        f"({cpu:.2f} s CPU for {media_s:.0f} s of media, {wall:.2f} s wall)"
    )
    print(f"push stats: {stats}")


if __name__ == "__main__":
    main()
