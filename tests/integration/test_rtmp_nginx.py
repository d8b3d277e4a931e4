"""The RTMP publisher against a real nginx-rtmp, read back by ffprobe and PyAV.

Media: the callee's H.264 (PT 96, packetization-mode=0: single NAL units, 46 frames
352x288 at 15 fps) and PCMU from conformance/traces/02-call-av.pcap; the PCMU becomes AAC
through our PyAV encoder. nginx-rtmp comes from the project fixture ``nginx_rtmp``
(tests/fixtures/rtmp_peers.py: free port, application "live", stopped by PID).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

from tests.peers.rtmp import NginxRtmp, ffprobe
from wcs.media.g711 import ulaw_decode as ulaw_to_s16le
from wcs.pcap import read_pcap
from wcs.rtmp import flv
from wcs.rtmp.aac import AacEncoder
from wcs.rtmp.client import RtmpPublisher, RtmpPublishError
from wcs.rtmp.events import Failed
from wcs.rtmp.muxer import PushMuxer

ROOT = Path(__file__).resolve().parents[2]
TRACE = ROOT / "conformance" / "traces" / "02-call-av.pcap"
CALLEE_VIDEO_PORT = 20012
CALLEE_AUDIO_PORT = 20028

# -- media from the trace ------------------------------------------------------------------


@dataclass
class TraceMedia:
    sps: bytes
    pps: bytes
    video: list[tuple[int, bytes, bool]]  # (ms from start, AVCC access unit, keyframe)
    video_period_ms: int
    pcm: list[tuple[int, bytes]]  # (ms from start, s16le 8 kHz mono)


def _rtp_payload(b: bytes) -> bytes:
    off = 12 + 4 * (b[0] & 0x0F)
    if b[0] & 0x10:  # header extension
        off += 4 + 4 * int.from_bytes(b[off + 2 : off + 4], "big")
    end = len(b) - (b[-1] if b[0] & 0x20 else 0)  # padding
    return b[off:end]


def load_trace() -> TraceMedia:
    frames: dict[int, list[bytes]] = {}
    audio: list[tuple[int, bytes]] = []
    for p in read_pcap(TRACE):
        b = p.payload
        if p.proto != "udp" or len(b) < 12 or b[0] >> 6 != 2:
            continue
        pt, ts = b[1] & 0x7F, int.from_bytes(b[4:8], "big")
        if p.src[1] == CALLEE_VIDEO_PORT and pt == 96:
            frames.setdefault(ts, []).append(_rtp_payload(b))  # one NAL unit per packet
        elif p.src[1] == CALLEE_AUDIO_PORT and pt == 0:
            audio.append((ts, _rtp_payload(b)))
    sps = pps = b""
    video: list[tuple[int, bytes, bool]] = []
    first = min(frames)
    for ts, nals in sorted(frames.items()):
        kinds = [n[0] & 0x1F for n in nals]
        sps = next((n for n in nals if n[0] & 0x1F == 7), sps)
        pps = next((n for n in nals if n[0] & 0x1F == 8), pps)
        slices = [n for n in nals if n[0] & 0x1F in (1, 5, 6)]
        video.append(((ts - first) // 90, flv.avcc(slices), 5 in kinds))
    a0 = audio[0][0]
    pcm = [((ts - a0) // 8, ulaw_to_s16le(payload)) for ts, payload in audio]
    step = video[1][0] - video[0][0]
    return TraceMedia(sps, pps, video, video[-1][0] + step, pcm)


def schedule(media: TraceMedia, loops: int) -> list[tuple[int, str, bytes, bool]]:
    """Video and AAC audio for ``loops`` repetitions of the trace, in timestamp order."""
    enc = AacEncoder(8000)
    items: list[tuple[int, str, bytes, bool]] = []
    period = media.video_period_ms
    for i in range(loops):
        base = i * period
        for ts, payload, key in media.video:
            items.append((base + ts, "v", payload, key))
        for ts, pcm in media.pcm:
            for frame in enc.encode(pcm, base + ts):
                items.append((frame.timestamp_ms, "a", frame.data, False))
    items.sort(key=lambda item: item[0])
    return items


async def publish_paced(
    pub: RtmpPublisher, media: TraceMedia, asc: bytes, items: list[tuple[int, str, bytes, bool]]
) -> int:
    """Send at the media's own pace (a live source), until done or cancelled."""
    pub.send_metadata(flv.metadata(width=352, height=288, framerate=15, audio_sample_rate=48000))
    assert pub.send_video_config(media.sps, media.pps)
    assert pub.send_audio_config(asc)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sent = 0
    for ts, kind, data, key in items:
        delay = t0 + ts / 1000 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        ok = pub.send_video(ts, data, key) if kind == "v" else pub.send_audio(ts, data)
        sent += ok
    return sent


def pull_with_pyav(url: str, want_video: int, want_audio: int) -> tuple[int, int, tuple[int, int]]:
    video = audio = 0
    size = (0, 0)
    with av.open(url, options={"rw_timeout": "8000000"}, timeout=15) as container:
        for packet in container.demux():
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    video += 1
                    size = (frame.width, frame.height)
                elif isinstance(frame, av.AudioFrame):
                    audio += 1
            if video >= want_video and audio >= want_audio:
                break
    return video, audio, size


# -- tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media() -> TraceMedia:
    return load_trace()


def test_trace_media_is_what_the_brief_says(media: TraceMedia) -> None:
    assert len(media.video) == 46
    assert media.video[0][2] and not any(key for _, _, key in media.video[1:])
    assert media.sps[0] & 0x1F == 7 and media.pps[0] & 0x1F == 8
    assert len(media.pcm) > 100


@pytest.mark.asyncio
async def test_publish_h264_aac_read_by_ffprobe_and_pyav(
    nginx_rtmp: NginxRtmp, media: TraceMedia
) -> None:
    name = f"call{os.getpid()}"
    url = nginx_rtmp.url(name)
    pub = RtmpPublisher(url)
    await pub.connect()
    assert pub.publishing
    assert any(s.code == "NetStream.Publish.Start" for s in pub.statuses)
    asc = AacEncoder(8000).audio_specific_config
    sender = asyncio.create_task(publish_paced(pub, media, asc, schedule(media, 4)))
    try:
        await asyncio.sleep(0.3)  # let the sequence headers reach nginx before players join
        streams = await asyncio.to_thread(ffprobe, url)
        stat = await asyncio.to_thread(nginx_rtmp.stat_xml)
        pulled = await asyncio.to_thread(pull_with_pyav, url, 30, 30)
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await pub.close()
    by_type = {s["codec_type"]: s for s in streams}
    assert by_type["video"]["codec_name"] == "h264"
    assert (by_type["video"]["width"], by_type["video"]["height"]) == (352, 288)
    assert by_type["audio"]["codec_name"] == "aac"
    assert int(by_type["audio"]["sample_rate"]) == 48000
    # nginx's own view of the published stream (its stat page parses our sequence headers).
    assert f"<name>{name}</name>" in stat
    assert "<codec>H264</codec>" in stat and "<codec>AAC</codec>" in stat
    assert "<width>352</width>" in stat and "<height>288</height>" in stat
    video_frames, audio_frames, size = pulled
    assert video_frames >= 30 and audio_frames >= 30
    assert size == (352, 288)
    assert pub.dropped.video_frames == 0
    assert pub.failure is None


@pytest.mark.asyncio
async def test_unknown_application_is_refused(nginx_rtmp: NginxRtmp) -> None:
    failures: list[Failed] = []
    pub = RtmpPublisher(nginx_rtmp.url("x", app="nosuchapp"), on_failure=failures.append)
    with pytest.raises(RtmpPublishError) as info:
        await pub.connect()
    failure = info.value.failure
    # nginx-rtmp answers an unknown application by closing the connection after the
    # connect command (its log says "application not found"); there is no _error.
    assert failure.stage == "connect"
    assert "closed" in failure.description
    assert not pub.publishing
    assert failures == []  # connect() raised; the callback is for failures after it
    assert "application not found" in nginx_rtmp.log_path.read_text(errors="replace")


@pytest.mark.asyncio
async def test_second_publisher_of_a_name_gets_badname(nginx_rtmp: NginxRtmp) -> None:
    name = f"dup{os.getpid()}"
    first = RtmpPublisher(nginx_rtmp.url(name))
    await first.connect()
    try:
        second = RtmpPublisher(nginx_rtmp.url(name))
        with pytest.raises(RtmpPublishError) as info:
            await second.connect()
        await second.close()
    finally:
        await first.close()
    failure = info.value.failure
    assert (failure.stage, failure.code) == ("publish", "NetStream.Publish.BadName")
    assert failure.description  # nginx says "Already publishing"


@pytest.mark.asyncio
async def test_g711_pass_through_is_read_as_pcm_mulaw(
    nginx_rtmp: NginxRtmp, media: TraceMedia
) -> None:
    """FLV sound format 8 (G.711 μ-law, 8 kHz mono) straight from the RTP payloads."""
    ulaw = _trace_ulaw()
    name = f"g711{os.getpid()}"
    url = nginx_rtmp.url(name)
    pub = RtmpPublisher(url)
    await pub.connect()

    async def send() -> None:
        pub.send_metadata(
            flv.metadata(352, 288, 15, audio_format=flv.AUDIO_FORMAT_G711U, audio_sample_rate=8000)
        )
        pub.send_video_config(media.sps, media.pps)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        period = media.video_period_ms
        items = sorted(
            [(i * period + ts, "v", data, key) for i in range(4) for ts, data, key in media.video]
            + [(i * period + ts, "a", data, False) for i in range(4) for ts, data in ulaw],
            key=lambda item: item[0],
        )
        for ts, kind, data, key in items:
            delay = t0 + ts / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if kind == "v":
                pub.send_video(ts, data, key)
            else:
                pub.send_g711(ts, data, alaw=False)

    sender = asyncio.create_task(send())
    try:
        await asyncio.sleep(0.3)
        streams = await asyncio.to_thread(ffprobe, url)
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await pub.close()
    audio = next(s for s in streams if s["codec_type"] == "audio")
    assert (audio["codec_name"], int(audio["sample_rate"]), audio["channels"]) == (
        "pcm_mulaw",
        8000,
        1,
    )
    assert any(s["codec_name"] == "h264" for s in streams)


def _nals(avcc_payload: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(avcc_payload):
        n = int.from_bytes(avcc_payload[pos : pos + 4], "big")
        out.append(avcc_payload[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


@pytest.mark.asyncio
async def test_push_muxer_path_from_rtp_like_frames(
    nginx_rtmp: NginxRtmp, media: TraceMedia
) -> None:
    """The product path: NAL unit lists (SPS/PPS in-band, as RTP delivers them) and G.711
    payloads on the RTP clock go through PushMuxer (→ AAC) and RtmpPublisher.send_tag."""
    ulaw = _trace_ulaw()
    name = f"mux{os.getpid()}"
    url = nginx_rtmp.url(name)
    pub = RtmpPublisher(url)
    await pub.connect()
    mux = PushMuxer(audio="aac", framerate=15)
    dropped = 0

    async def send() -> None:
        nonlocal dropped
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        period = media.video_period_ms
        items = sorted(
            [(i * period + ts, "v", d, key) for i in range(5) for ts, d, key in media.video]
            + [(i * period + ts, "a", d, False) for i in range(5) for ts, d in ulaw],
            key=lambda item: item[0],
        )
        for ts, kind, data, key in items:
            delay = t0 + ts / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if kind == "v":
                nals = ([media.sps, media.pps] if key else []) + _nals(data)
                tags = mux.video(90_000 + ts, nals)  # any clock origin will do
            else:
                tags = mux.audio_g711(90_000 + ts, data, alaw=False)
            for tag in tags:
                dropped += not pub.send_tag(tag)

    sender = asyncio.create_task(send())
    try:
        await asyncio.sleep(0.3)
        streams = await asyncio.to_thread(ffprobe, url)
        pulled = await asyncio.to_thread(pull_with_pyav, url, 30, 30)
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await pub.close()
    by_type = {s["codec_type"]: s for s in streams}
    assert (by_type["video"]["codec_name"], by_type["video"]["width"]) == ("h264", 352)
    assert by_type["audio"]["codec_name"] == "aac"
    assert pulled[0] >= 30 and pulled[1] >= 30 and pulled[2] == (352, 288)
    assert dropped == 0 and (mux.width, mux.height) == (352, 288)


def _trace_ulaw() -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    a0 = None
    for p in read_pcap(TRACE):
        b = p.payload
        if p.proto == "udp" and p.src[1] == CALLEE_AUDIO_PORT and len(b) > 12 and b[1] & 0x7F == 0:
            ts = int.from_bytes(b[4:8], "big")
            a0 = ts if a0 is None else a0
            out.append(((ts - a0) // 8, _rtp_payload(b)))
    return out
