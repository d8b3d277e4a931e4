from __future__ import annotations

import math
import struct

from tests.integration.test_rtmp_nginx import load_trace
from wcs.rtmp import amf0, flv
from wcs.rtmp.muxer import FlvTag, PushMuxer


def trace_access_units() -> list[tuple[int, list[bytes]]]:
    media = load_trace()
    out = []
    for i, (ts, payload, key) in enumerate(media.video):
        nals = []
        pos = 0
        while pos < len(payload):
            n = struct.unpack(">I", payload[pos : pos + 4])[0]
            nals.append(payload[pos + 4 : pos + 4 + n])
            pos += 4 + n
        if key:
            nals = [media.sps, media.pps, *nals]  # as the source sends them
        out.append((1000 + ts if i else 1000, nals))
    return out


def test_video_waits_for_keyframe_then_sends_config_first() -> None:
    aus = trace_access_units()
    mux = PushMuxer(audio="none", framerate=15)
    tags: list[FlvTag] = []
    for ts, nals in aus[1:5]:  # joined mid-GOP: nothing usable yet
        tags += mux.video(ts, nals)
    assert tags == [] and mux.needs_keyframe and mux.dropped_before_keyframe == 4
    for ts, nals in aus:
        tags += mux.video(ts, nals)
    tags += mux.flush()
    assert [t.kind for t in tags[:3]] == ["data", "video", "video"]
    meta = amf0.decode(tags[0].body)[2]
    assert (meta["width"], meta["height"], meta["framerate"]) == (352.0, 288.0, 15.0)
    assert "audiocodecid" not in meta
    assert tags[1].config and tags[1].body[:2] == b"\x17\x00"
    assert tags[2].keyframe and tags[2].body[:2] == b"\x17\x01"
    assert not mux.needs_keyframe
    # SPS/PPS are not repeated inside the frame: the first NAL is the SEI/IDR slice.
    assert tags[2].body[9] & 0x1F in (5, 6)
    frames = [t for t in tags if t.kind == "video" and not t.config]
    assert len(frames) == 46
    assert [t.timestamp_ms for t in tags] == sorted(t.timestamp_ms for t in tags)
    source = [ts for ts, _ in aus]
    assert [t.timestamp_ms for t in frames] == [ts - source[0] for ts in source]


def test_sps_change_sends_a_new_sequence_header() -> None:
    aus = trace_access_units()
    mux = PushMuxer(audio="none")
    tags = mux.video(*aus[0])
    other_sps = bytes([0x67, 0x42, 0xE0, 0x1E]) + aus[0][1][0][4:]
    tags += mux.video(2000, [other_sps, *aus[0][1][1:]])
    tags += mux.flush()
    configs = [t for t in tags if t.config and t.kind == "video"]
    assert len(configs) == 2 and configs[1].body[6] == 0x42 and configs[1].body[8] == 0x1E


def pcmu_tone(ms: int) -> bytes:
    # μ-law of a 440 Hz tone (encode by search: fine for a test).
    from wcs.media.g711 import ulaw_encode

    pcm = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(8 * ms)
    )
    return ulaw_encode(pcm)


def test_g711_to_aac_and_interleaving() -> None:
    aus = trace_access_units()
    mux = PushMuxer(audio="aac")
    tone = pcmu_tone(20)
    tags: list[FlvTag] = []
    audio_ts = 1000
    for ts, nals in aus[:30]:
        while audio_ts <= ts:
            tags += mux.audio_g711(audio_ts, tone, alaw=False)
            audio_ts += 20
        tags += mux.video(ts, nals)
    tags += mux.flush()
    audio = [t for t in tags if t.kind == "audio"]
    assert audio[0].config and audio[0].body[:2] == b"\xaf\x00"
    assert flv.parse_audio_specific_config(audio[0].body[2:]) == (2, 48000, 1)
    assert all(t.body[:2] == b"\xaf\x01" for t in audio[1:])
    stamps = [t.timestamp_ms for t in tags]
    assert stamps == sorted(stamps)
    meta = amf0.decode(next(t for t in tags if t.kind == "data").body)[2]
    assert meta["audiocodecid"] == 10.0 and meta["audiosamplerate"] == 48000.0


def test_g711_pass_through() -> None:
    mux = PushMuxer(video=False, audio="g711")
    tags = mux.audio_g711(5000, b"\xd5" * 160, alaw=True)
    tags += mux.audio_g711(5020, b"\xd5" * 160, alaw=True) + mux.flush()
    assert [t.kind for t in tags] == ["data", "audio", "audio"]
    assert amf0.decode(tags[0].body)[2]["audiocodecid"] == 7.0
    assert [t.timestamp_ms for t in tags[1:]] == [0, 20]
    assert tags[1].body[0] == 0x72
