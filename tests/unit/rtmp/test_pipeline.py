"""PushPipeline (frames → FLV tags: G.711/Opus → AAC, mute, pass-through), PipelineWorker
(the same on a thread) and ReconnectPolicy."""

from __future__ import annotations

import asyncio
import math
import struct
from fractions import Fraction

import av
import pytest

from tests.unit.rtmp.test_muxer import trace_access_units
from wcs.media.g711 import alaw_encode, ulaw_encode
from wcs.media.sound import SoundClip, SoundCursor
from wcs.rtmp import flv
from wcs.rtmp.keyframes import KeyframePacer
from wcs.rtmp.muxer import FlvTag
from wcs.rtmp.pipeline import PushPipeline
from wcs.rtmp.reconnect import ReconnectPolicy
from wcs.rtmp.worker import PipelineWorker


def tone_pcm(seconds: float, rate: int = 8000, hz: float = 440.0) -> bytes:
    n = int(seconds * rate)
    return b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * hz * i / rate))) for i in range(n)
    )


def tone_ulaw_frames(seconds: float) -> list[bytes]:
    pcm = tone_pcm(seconds)
    ulaw = ulaw_encode(pcm)
    return [ulaw[i : i + 160] for i in range(0, len(ulaw), 160)]


def decode_aac_energy(tags: list[FlvTag]) -> float:
    """RMS of the AAC audio in ``tags`` decoded with PyAV."""
    config = next(t for t in tags if t.kind == "audio" and t.config)
    codec = av.CodecContext.create("aac", "r")
    codec.extradata = config.body[2:]
    total, count = 0.0, 0
    for t in tags:
        if t.kind != "audio" or t.config:
            continue
        for frame in codec.decode(av.Packet(t.body[2:])):
            for x in frame.to_ndarray().ravel():
                total += float(x) * float(x)
                count += 1
    return math.sqrt(total / max(count, 1))


def test_g711_becomes_aac_with_its_sequence_header_first() -> None:
    pipe = PushPipeline(video=False, audio_codec="PCMU")
    tags: list[FlvTag] = []
    for i, payload in enumerate(tone_ulaw_frames(2.0)):
        tags += pipe.audio(1000.0 + 20 * i, "PCMU", payload)
    tags += pipe.flush()
    assert pipe.audio_mode == "aac"
    assert tags[0].kind == "data"  # onMetaData of an audio-only stream
    audio = [t for t in tags if t.kind == "audio"]
    assert audio[0].config and audio[0].body[:2] == b"\xaf\x00"
    assert all(t.body[:2] == b"\xaf\x01" for t in audio[1:])
    # 2 s at 48 kHz in 1024-sample AAC frames (plus encoder priming/flush).
    assert 90 <= len(audio) - 1 <= 98
    assert [t.timestamp_ms for t in tags] == sorted(t.timestamp_ms for t in tags)
    assert decode_aac_energy(tags) > 0.05


def test_mute_sends_silence_of_the_same_length() -> None:
    frames = tone_ulaw_frames(1.0)
    loud, quiet = PushPipeline(False, "PCMU"), PushPipeline(False, "PCMU", muted=True)
    loud_tags: list[FlvTag] = []
    quiet_tags: list[FlvTag] = []
    for i, payload in enumerate(frames):
        loud_tags += loud.audio(20.0 * i, "PCMU", payload)
        quiet_tags += quiet.audio(20.0 * i, "PCMU", payload)
    loud_tags += loud.flush()
    quiet_tags += quiet.flush()
    assert len(loud_tags) == len(quiet_tags)
    assert [t.timestamp_ms for t in loud_tags] == [t.timestamp_ms for t in quiet_tags]
    assert decode_aac_energy(loud_tags) > 0.05
    assert decode_aac_energy(quiet_tags) < 1e-4


def test_unmute_takes_effect_at_once() -> None:
    pipe = PushPipeline(False, "PCMU", muted=True)
    frames = tone_ulaw_frames(1.0)
    tags: list[FlvTag] = []
    for i, payload in enumerate(frames[:25]):
        tags += pipe.audio(20.0 * i, "PCMU", payload)
    pipe.muted = False
    later: list[FlvTag] = []
    for i, payload in enumerate(frames[25:], start=25):
        later += pipe.audio(20.0 * i, "PCMU", payload)
    later += pipe.flush()
    config = next(t for t in tags if t.config and t.kind == "audio")
    assert decode_aac_energy([config, *later]) > 0.05


def test_g711_pass_through_and_muted_pass_through() -> None:
    pipe = PushPipeline(False, "PCMA", g711_passthrough=True)
    payload = bytes(range(160))
    tags = pipe.audio(0.0, "PCMA", payload) + pipe.audio(20.0, "PCMA", payload) + pipe.flush()
    audio = [t for t in tags if t.kind == "audio"]
    assert pipe.audio_mode == "g711"
    assert audio and all(t.body[0] >> 4 == flv.AUDIO_FORMAT_G711A for t in audio)
    assert audio[0].body[1:] == payload
    pipe.muted = True
    muted = pipe.audio(40.0, "PCMA", payload) + pipe.flush()
    assert [t.body[1:] for t in muted if t.kind == "audio"] == [b"\xd5" * 160]


def test_opus_is_decoded_and_encoded_to_aac() -> None:
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format = 48000, "stereo", "s16"
    enc.time_base = Fraction(1, 48000)
    enc.open()
    pcm = tone_pcm(1.0, 48000)
    packets: list[bytes] = []
    for i in range(50):
        block = pcm[i * 1920 : (i + 1) * 1920]
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(block)
        frame.sample_rate, frame.pts = 48000, i * 960
        stereo = av.AudioResampler(format="s16", layout="stereo", rate=48000).resample(frame)
        for f in stereo:
            packets += [bytes(p) for p in enc.encode(f)]
    pipe = PushPipeline(False, "opus", g711_passthrough=True)  # Opus is never passed through
    tags: list[FlvTag] = []
    for i, payload in enumerate(packets):
        tags += pipe.audio(20.0 * i, "opus", payload)
    tags += pipe.flush()
    assert pipe.audio_mode == "aac"
    audio = [t for t in tags if t.kind == "audio" and not t.config]
    assert len(audio) >= 40
    assert decode_aac_energy(tags) > 0.05
    assert pipe.stats()["opusErrors"] == 0


def test_unknown_audio_codec_is_ignored_and_counted() -> None:
    pipe = PushPipeline(False, "PCMU")
    assert pipe.audio(0.0, "telephone-event", b"\x01\x00\x00\xa0") == []
    assert pipe.stats()["ignoredAudio"] == 1


def test_video_and_audio_come_out_interleaved() -> None:
    pipe = PushPipeline(True, "PCMU", framerate=15)
    aus = trace_access_units()
    frames = tone_ulaw_frames(3.0)
    events: list[tuple[float, str, object]] = [(ts, "v", nals) for ts, nals in aus]
    events += [(1000.0 + 20 * i, "a", p) for i, p in enumerate(frames)]
    events.sort(key=lambda e: e[0])
    tags: list[FlvTag] = []
    for ts, kind, payload in events:
        if kind == "v":
            assert isinstance(payload, list)
            tags += pipe.video(ts, payload)
        else:
            assert isinstance(payload, bytes)
            tags += pipe.audio(ts, "PCMU", payload)
    tags += pipe.flush()
    stamps = [t.timestamp_ms for t in tags]
    assert stamps == sorted(stamps)
    first_video = next(t for t in tags if t.kind == "video" and not t.config)
    assert first_video.keyframe
    assert pipe.size == (352, 288)
    kinds = {t.kind for t in tags}
    assert kinds == {"data", "video", "audio"}


@pytest.mark.asyncio
async def test_worker_delivers_tags_in_order_on_the_loop() -> None:
    loop = asyncio.get_running_loop()
    got: list[FlvTag] = []
    threads: set[bool] = set()

    def on_tags(tags: list[FlvTag]) -> None:
        threads.add(asyncio.get_running_loop() is loop)
        got.extend(tags)

    worker = PipelineWorker(PushPipeline(True, "PCMU"), loop, on_tags)
    for ts, nals in trace_access_units():
        worker.put_video(float(ts), nals, any(n[0] & 0x1F == 5 for n in nals))
    for i, payload in enumerate(tone_ulaw_frames(1.0)):
        worker.put_audio(1000.0 + 20 * i, "PCMU", payload)
    worker.close()
    await asyncio.to_thread(worker.join, 10)
    await asyncio.sleep(0)  # the last call_soon_threadsafe
    assert threads == {True}
    assert any(t.kind == "audio" for t in got) and any(t.kind == "video" for t in got)
    stamps = [t.timestamp_ms for t in got]
    assert stamps == sorted(stamps)
    assert worker.failed is None


def test_worker_queue_full_drops_video_until_keyframe_and_asks_for_one() -> None:
    asked: list[int] = []
    loop = asyncio.new_event_loop()
    try:
        worker = PipelineWorker(
            PushPipeline(True, None), loop, lambda tags: None, lambda: asked.append(1), limit=0
        )
        worker.put_video(0.0, [b"\x41\x00"], False)
        worker.put_video(40.0, [b"\x41\x00"], False)
        assert worker.drops.video == 2 and asked == [1]
        worker.limit = 100
        worker.put_video(80.0, [b"\x41\x00"], False)  # still no keyframe: dropped
        assert worker.drops.video == 3
        worker.put_video(120.0, [b"\x65\x00"], True)
        assert worker.queued == 1 and worker.drops.video == 3
        worker.put_audio(0.0, "PCMU", b"\xff")
        assert worker.queued == 2
        worker.close()
        worker.join(5)
    finally:
        loop.close()


def test_reconnect_policy() -> None:
    assert ReconnectPolicy(0, 2.0).delay(1) is None
    policy = ReconnectPolicy(4, 2.0, max_delay=10.0)
    assert [policy.delay(n) for n in range(0, 6)] == [None, 2.0, 4.0, 8.0, 10.0, None]
    assert ReconnectPolicy(1, -1.0).delay(1) == 0.0


def first_media(tags: list[FlvTag], kind: str) -> int:
    return next(t.timestamp_ms for t in tags if t.kind == kind and not t.config)


def test_audio_before_the_first_keyframe_is_dropped_so_tracks_start_together() -> None:
    pipe = PushPipeline(True, "PCMU")
    frames = tone_ulaw_frames(2.0)
    tags: list[FlvTag] = []
    for i in range(10):  # 200 ms of audio before any video
        tags += pipe.audio(800.0 + 20 * i, "PCMU", frames[i])
    aus = trace_access_units()  # first keyframe at 1000 ms
    events: list[tuple[float, str, object]] = [(float(ts), "v", nals) for ts, nals in aus]
    events += [(1000.0 + 20 * i, "a", frames[10 + i]) for i in range(60)]
    for ts, _kind, payload in sorted(events, key=lambda e: e[0]):
        if isinstance(payload, list):
            tags += pipe.video(ts, payload)
        else:
            assert isinstance(payload, bytes)
            tags += pipe.audio(ts, "PCMU", payload)
    tags += pipe.flush()
    assert pipe.stats()["audioBeforeVideo"] == 10
    assert abs(first_media(tags, "audio") - first_media(tags, "video")) <= 30


def test_late_audio_after_a_cached_gop_is_led_by_silence() -> None:
    pipe = PushPipeline(True, "PCMU")
    tags: list[FlvTag] = []
    for ts, nals in trace_access_units()[:30]:  # 2 s of GOP handed over at once
        tags += pipe.video(float(ts), nals)
    assert tags == []  # held for the audio
    frames = tone_ulaw_frames(1.0)
    for i, payload in enumerate(frames):  # live audio from 3000 ms on
        tags += pipe.audio(3000.0 + 20 * i, "PCMU", payload)
    tags += pipe.flush()
    assert abs(first_media(tags, "audio") - first_media(tags, "video")) <= 30
    assert pipe.stats()["leadSilenceMs"] == 2000
    audio = [t for t in tags if t.kind == "audio" and not t.config]
    assert audio[-1].timestamp_ms - audio[0].timestamp_ms >= 2900  # silence + 1 s of tone
    stamps = [t.timestamp_ms for t in tags]
    assert stamps == sorted(stamps)


def test_audio_goes_through_when_video_never_comes() -> None:
    pipe = PushPipeline(True, "PCMU")
    tags: list[FlvTag] = []
    for i, payload in enumerate(tone_ulaw_frames(5.0)):
        tags += pipe.audio(20.0 * i, "PCMU", payload)
    tags += pipe.flush()
    audio = [t for t in tags if t.kind == "audio" and not t.config]
    assert audio and audio[0].timestamp_ms == 0  # from the 3 s mark, re-based to 0
    assert 2000 - 50 <= audio[-1].timestamp_ms - audio[0].timestamp_ms <= 2000 + 50


def test_keyframe_pacer_asks_when_keyframes_are_too_far_apart() -> None:
    pacer = KeyframePacer(2000)
    asks = [
        pacer.on_frame(t, key)
        for t, key in (
            (0, True),
            (1000, False),
            (1999, False),
            (2000, False),
            (3000, False),
            (4000, False),
            (4100, True),
            (5000, False),
            (6100, False),
        )
    ]
    assert asks == [False, False, False, True, False, True, False, False, True]
    assert pacer.requests == 3
    assert KeyframePacer(0).on_frame(10_000, False) is False
    reset = KeyframePacer(1000)
    assert [reset.on_frame(t, False) for t in (5000, 100, 1100)] == [False, False, True]


def decode_aac_samples(tags: list[FlvTag]) -> list[float]:
    config = next(t for t in tags if t.kind == "audio" and t.config)
    codec = av.CodecContext.create("aac", "r")
    codec.extradata = config.body[2:]
    out: list[float] = []
    for t in tags:
        if t.kind == "audio" and not t.config:
            for frame in codec.decode(av.Packet(t.body[2:])):
                out += [float(x) for x in frame.to_ndarray().ravel()]
    return out


def peak_hz(samples: list[float], rate: int = 48000) -> float:
    import numpy as np

    x = np.asarray(samples) * np.hanning(len(samples))
    return float(np.argmax(np.abs(np.fft.rfft(x))) * rate / len(samples))


def sound_cursor(hz: float, seconds: float, loop: bool) -> SoundCursor:
    pcm = {rate: tone_pcm(seconds, rate, hz) for rate in (8000, 48000)}
    return SoundCursor(SoundClip("s", pcm), loop)


def test_sound_replaces_the_call_audio_and_sound_off_brings_it_back() -> None:
    pipe = PushPipeline(False, "PCMU")
    frames = tone_ulaw_frames(3.0)  # the call: 440 Hz
    parts: list[list[FlvTag]] = [[], [], []]
    for i, payload in enumerate(frames):
        # One second each: the call, the sound (a looped 0.3 s clip), the call again.
        if i == 50:
            pipe.sound = sound_cursor(1500, 0.3, loop=True)
        elif i == 100:
            pipe.sound = None
        parts[i // 50] += pipe.audio(20.0 * i, "PCMU", payload)
    parts[2] += pipe.flush()
    config = next(t for t in parts[0] if t.config and t.kind == "audio")
    # The AAC encoder delays by a frame or two: look at the middle of each second.
    hz = [peak_hz(decode_aac_samples([config, *p])[9600:38400]) for p in parts]
    assert abs(hz[0] - 440) < 20 and abs(hz[1] - 1500) < 20 and abs(hz[2] - 440) < 20, hz
    # The timing stays the call's: tags of every part keep increasing timestamps.
    every = [t.timestamp_ms for p in parts for t in p]
    assert every == sorted(every)


def test_sound_played_once_ends_in_the_call_audio_and_mute_still_wins() -> None:
    pipe = PushPipeline(False, "PCMU")
    pipe.sound = sound_cursor(1500, 0.5, loop=False)
    frames = tone_ulaw_frames(2.0)
    tags: list[FlvTag] = []
    for i, payload in enumerate(frames):
        tags += pipe.audio(20.0 * i, "PCMU", payload)
    tags += pipe.flush()
    assert pipe.sound.finished
    pcm = decode_aac_samples(tags)
    assert abs(peak_hz(pcm[4800:19200]) - 1500) < 20  # 0.1-0.4 s: the sound
    assert abs(peak_hz(pcm[48000:86400]) - 440) < 20  # 1.0-1.8 s: the call again
    muted = PushPipeline(False, "PCMU", muted=True)
    muted.sound = sound_cursor(1500, 1.0, loop=True)
    quiet: list[FlvTag] = []
    for i, payload in enumerate(frames[:50]):
        quiet += muted.audio(20.0 * i, "PCMU", payload)
    assert decode_aac_energy(quiet + muted.flush()) < 1e-4


def test_sound_in_g711_pass_through_is_encoded_to_the_sources_law() -> None:
    pipe = PushPipeline(False, "PCMA", g711_passthrough=True)
    pipe.sound = sound_cursor(1000, 0.1, loop=True)
    tags = pipe.audio(0.0, "PCMA", bytes(160)) + pipe.flush()
    [tag] = [t for t in tags if t.kind == "audio"]
    assert tag.body[1:] == alaw_encode(tone_pcm(0.1, 8000, 1000)[:320])


def shared_aac_frames(seconds: float) -> tuple[bytes, list[tuple[int, bytes]]]:
    """What the stream's shared AAC stage hands a push: its config and (pts, frame)s."""
    from wcs.app.aac_stage import AacTranscoder

    stage = AacTranscoder("PCMU")
    frames = []
    for i, payload in enumerate(tone_ulaw_frames(seconds)):
        frames += [(f.timestamp_ms, f.data) for f in stage.feed(payload, 3000.0 + 20 * i)]
    return stage.track.asc, frames


def test_shared_aac_is_muxed_as_is_and_the_call_audio_not_encoded() -> None:
    asc, frames = shared_aac_frames(1.0)
    pipe = PushPipeline(True, "PCMU", shared_asc=asc)
    tags: list[FlvTag] = []
    for ts, nals in trace_access_units()[:30]:  # a cached GOP, held for the audio
        tags += pipe.video(float(ts), nals)
    assert pipe.audio(3000.0, "PCMU", tone_ulaw_frames(0.02)[0]) == []  # the stage's job
    for ts, data in frames:
        tags += pipe.aac(float(ts), data)
    tags += pipe.flush()
    audio = [t for t in tags if t.kind == "audio"]
    assert [t.config for t in audio].count(True) == 1 and audio[0].config
    assert audio[0].body[2:] == asc
    sent = [t.body[2:] for t in audio if not t.config]
    assert sent[-len(frames) :] == [data for _, data in frames]  # the stage's frames, as is
    assert pipe.stats()["leadSilenceMs"] >= 1900  # AAC silence from the GOP's start
    assert abs(first_media(tags, "audio") - first_media(tags, "video")) <= 30
    assert decode_aac_energy(tags) > 0.01
    stamps = [t.timestamp_ms for t in tags]
    assert stamps == sorted(stamps)


def test_shared_aac_muted_sends_silence_frames() -> None:
    asc, frames = shared_aac_frames(1.0)
    pipe = PushPipeline(False, "PCMU", muted=True, shared_asc=asc)
    tags: list[FlvTag] = []
    for ts, data in frames:
        tags += pipe.aac(float(ts), data)
    tags += pipe.flush()
    audio = [t for t in tags if t.kind == "audio" and not t.config]
    assert len(audio) == len(frames)
    assert decode_aac_energy(tags) < 0.001
