"""CPU cost of one recording: writer-thread CPU per second of media, and loop-side µs per
frame (what the stream's receive path pays), for H.264 + G.711 → MP4 (AAC) and audio only.

Frames: the 02-call-av trace's callee media (352x288 H.264 at 15 fps, PCMU 20 ms) repeated
with continuing pts. Run from the repository root: ``python3 bench/bench_record.py``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.unit.record.frames import trace_frames
from wcs.app.streams import StreamHub, TrackInfo
from wcs.record.manager import RecorderManager

SECONDS = 60


async def run(video: bool) -> None:
    base = trace_frames()
    span = base[-1].pts + 20.0
    with tempfile.TemporaryDirectory() as tmp:
        hub = StreamHub()
        manager = RecorderManager(hub, tmp, "{streamName}", auto=True)
        stream = hub.publish("bench", call_id="c", app_key="app")
        tracks = {"audio": TrackInfo("audio", "PCMU", 8000)}
        if video:
            tracks["video"] = TrackInfo("video", "H264", 90000)
        stream.set_tracks(tracks)
        rec = manager.get(stream.stream.media_session_id)
        assert rec is not None
        loops = int(SECONDS * 1000 / span) + 1
        frames = 0
        loop_s = 0.0
        for i in range(loops):
            t0 = time.perf_counter()
            for f in base:
                pts = f.pts + i * span
                if f.au is not None:
                    if video:
                        stream.feed_video(f.au, pts)
                        frames += 1
                elif f.audio is not None:
                    stream.feed_audio(f.audio, pts)
                    frames += 1
            loop_s += time.perf_counter() - t0
            while rec.worker.queued:  # real time would leave the thread this much room
                await asyncio.sleep(0.001)
        stream.unpublish("done")
        await manager.close()
        media_s = loops * span / 1000
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
        kind = "H.264+PCMU -> MP4" if video else "PCMU only -> MP4"
        print(
            f"{kind}: {media_s:.0f} s media, writer CPU {rec.worker.cpu_seconds:.2f} s "
            f"({100 * rec.worker.cpu_seconds / media_s:.2f} % of one core), "
            f"loop side {1e6 * loop_s / frames:.1f} µs/frame, "
            f"file {size / media_s / 1024:.1f} KiB/s, dropped {rec.worker.dropped}"
        )


if __name__ == "__main__":
    asyncio.run(run(True))
    asyncio.run(run(False))
