"""The shared AAC stage: one encoder per stream whatever the number of consumers."""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.playout.helpers import Source, trace_frames
from wcs.app.aac_stage import AacStages, AacTranscoder, can_encode
from wcs.app.streams import StreamHub
from wcs.hls import AudioConfig
from wcs.media.audio import ulaw_encode


class Got:
    def __init__(self) -> None:
        self.frames: list[tuple[bytes, float]] = []

    def on_aac(self, data: bytes, pts_ms: float) -> None:
        self.frames.append((data, pts_ms))


def test_transcoder_g711_and_opus_to_48k_aac() -> None:
    assert can_encode("PCMU") and can_encode("PCMA") and can_encode("opus")
    assert not can_encode("telephone-event") and not can_encode(None)
    t = AacTranscoder("PCMU")
    out = []
    for i in range(50):  # one second of 20 ms frames
        out += t.feed(ulaw_encode(bytes(320)), i * 20.0)
    out += t.flush()
    config = AudioConfig.from_asc(t.track.asc)
    assert (config.sample_rate, config.channels, config.object_type) == (48000, 1, 2)
    assert 45 <= len(out) <= 49  # 48000 / 1024 frames, minus the encoder's delay
    stamps = [f.timestamp_ms for f in out]
    assert stamps == sorted(stamps) and stamps[-1] <= 1000
    with pytest.raises(ValueError):
        AacTranscoder("G722")


def test_one_stage_per_stream_shared_by_its_consumers() -> None:
    async def main() -> None:
        hub = StreamHub()
        src = Source(hub)
        stages = AacStages(asyncio.get_running_loop())
        a, b = Got(), Got()
        track_a, sub_a = stages.acquire(src.stream, a)
        track_b, sub_b = stages.acquire(src.stream, b)
        assert len(stages) == 1 and track_a == track_b
        stage = stages.stage_of(src.stream)
        assert stage is not None and stage.consumers == 2
        src.feed(trace_frames())
        for _ in range(200):  # the encoder thread hands frames back through the loop
            if stage.frames_out >= 100:
                break
            await asyncio.sleep(0.01)
        assert stage.frames_in == 153  # every PCMU frame encoded once, not once per consumer
        assert a.frames == b.frames and len(a.frames) == stage.frames_out >= 100
        sub_a.cancel()
        assert stages.stage_of(src.stream) is stage and stage.consumers == 1
        sub_b.cancel()
        assert stages.stage_of(src.stream) is None and len(stages) == 0
        assert src.stream.subscribers == 0

    asyncio.run(main())


def test_no_stage_without_encodable_audio() -> None:
    async def main() -> None:
        hub = StreamHub()
        src = Source(hub, audio=None)
        with pytest.raises(ValueError):
            AacStages(asyncio.get_running_loop()).acquire(src.stream, Got())

    asyncio.run(main())
