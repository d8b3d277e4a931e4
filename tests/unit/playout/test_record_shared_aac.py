"""A recording takes its AAC from the stream's shared stage (when its files are MP4/AAC):
the frames are muxed as they are, next to HLS's, and the file plays."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av

from tests.unit.playout.helpers import Source, trace_frames
from wcs.app.aac_stage import AacStages
from wcs.app.streams import StreamHub
from wcs.record.manager import RecorderManager


class Got:
    def on_aac(self, data: bytes, pts_ms: float) -> None:
        pass


def test_recording_shares_the_streams_aac_stage(tmp_path: Path) -> None:
    async def main() -> Path:
        hub = StreamHub()
        stages = AacStages(asyncio.get_running_loop())
        manager = RecorderManager(hub, tmp_path, "{streamName}", aac_stages=stages)
        src = Source(hub, name="rec")
        manager.start(src.stream)
        _, other = stages.acquire(src.stream, Got())  # e.g. HLS of the same stream
        stage = stages.stage_of(src.stream)
        assert stage is not None and stage.consumers == 2  # the recorder and the other one
        src.feed(trace_frames())
        for _ in range(300):
            if stage.frames_out >= 60:
                break
            await asyncio.sleep(0.01)
        assert stage.frames_in == 153  # one encode for both consumers
        src.pub.unpublish("done")
        await manager.close()
        other.cancel()
        assert len(stages) == 0
        return tmp_path / "rec.mp4"

    path = asyncio.run(main())
    with av.open(str(path)) as container:
        kinds = {s.type: s.codec_context.name for s in container.streams}
        assert kinds == {"video": "h264", "audio": "aac"}
        audio = container.streams.audio[0]
        assert audio.codec_context.sample_rate == 48000
        frames = [f for p in container.demux(audio) for f in p.decode()]
    assert len(frames) >= 60
