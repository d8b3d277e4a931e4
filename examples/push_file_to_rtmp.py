#!/usr/bin/env python3
"""Publish a media file to an RTMP server with the wcs library, paced in real time.

Any file PyAV reads works: video is re-encoded to H.264 (baseline, one keyframe a second),
audio to AAC-LC, then sent as FLV tags over RTMP.

    python examples/push_file_to_rtmp.py clip.mp4 rtmp://127.0.0.1/live/mystream

The library pieces used: ``wcs.rtmp.RtmpPublisher`` (asyncio edge of the sans-IO RTMP client
connection), ``wcs.rtmp.flv.metadata``, ``wcs.rtmp.aac.AacEncoder`` and
``wcs.media.h264.split_annexb``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from fractions import Fraction
from typing import Any

import av

from wcs.media.h264 import split_annexb
from wcs.rtmp import RtmpPublisher, RtmpPublishError, flv
from wcs.rtmp.aac import AacEncoder

NAL_SPS, NAL_PPS, NAL_IDR = 7, 8, 5


class VideoEncoder:
    """Decoded frames -> (timestamp ms, NAL units) with libx264."""

    def __init__(self, width: int, height: int, fps: int) -> None:
        ctx: Any = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
        ctx.time_base = Fraction(1, 1000)
        ctx.framerate = Fraction(fps)
        ctx.options = {
            "preset": "veryfast",
            "tune": "zerolatency",
            "profile": "baseline",
            "x264-params": f"keyint={fps}:min-keyint={fps}:repeat-headers=1",
        }
        self.ctx = ctx

    def encode(self, frame: Any, ts_ms: int) -> list[tuple[int, list[bytes]]]:
        frame = frame.reformat(width=self.ctx.width, height=self.ctx.height, format="yuv420p")
        frame.pts = ts_ms
        frame.time_base = Fraction(1, 1000)
        return [(int(p.pts), split_annexb(bytes(p))) for p in self.ctx.encode(frame)]


async def push(path: str, url: str, seconds: float | None = None) -> int:
    container: Any = av.open(path)
    vstream = next(iter(container.streams.video), None)
    astream = next(iter(container.streams.audio), None)
    if vstream is None and astream is None:
        print("no audio or video in the file", file=sys.stderr)
        return 1
    publisher = RtmpPublisher(url, on_failure=lambda f: print("RTMP failure:", f))
    try:
        await publisher.connect()
    except (RtmpPublishError, OSError) as exc:
        print(f"cannot publish: {exc}", file=sys.stderr)
        return 1
    print(f"publishing {path} to {url}")
    video = audio = None
    resampler = None
    if vstream is not None:
        fps = int(vstream.average_rate or 25)
        video = VideoEncoder(vstream.codec_context.width, vstream.codec_context.height, fps)
    if astream is not None:
        audio = AacEncoder(astream.codec_context.sample_rate)
        resampler = av.AudioResampler(format="s16", layout="mono",
                                      rate=astream.codec_context.sample_rate)  # fmt: skip
        publisher.send_audio_config(audio.audio_specific_config)
    publisher.send_metadata(flv.metadata(
        width=vstream.codec_context.width if vstream else 0,
        height=vstream.codec_context.height if vstream else 0,
        framerate=float(vstream.average_rate or 25) if vstream else 0.0,
        video=vstream is not None,
        audio_format=flv.AUDIO_FORMAT_AAC if astream else None,
        audio_sample_rate=audio.output_rate if audio else 0,
    ))  # fmt: skip
    sent_config = False
    frames = 0
    start = time.monotonic()
    try:
        for frame in container.decode(*[s for s in (vstream, astream) if s is not None]):
            if frame.pts is None:
                continue
            ts_ms = int(frame.pts * frame.time_base * 1000)
            if seconds is not None and ts_ms > seconds * 1000:
                break
            # Real-time pacing: a live RTMP server relays what it gets as it gets it.
            delay = start + ts_ms / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if isinstance(frame, av.VideoFrame) and video is not None:
                for pts, nals in video.encode(frame, ts_ms):
                    kinds = [n[0] & 0x1F for n in nals]
                    if NAL_SPS in kinds and NAL_PPS in kinds and not sent_config:
                        sps = nals[kinds.index(NAL_SPS)]
                        pps = nals[kinds.index(NAL_PPS)]
                        publisher.send_video_config(sps, pps, pts)
                        sent_config = True
                    if not sent_config:
                        continue
                    body = [n for n in nals if n[0] & 0x1F not in (NAL_SPS, NAL_PPS)]
                    publisher.send_video(pts, flv.avcc(body), NAL_IDR in kinds)
                    frames += 1
            elif isinstance(frame, av.AudioFrame) and audio is not None and resampler:
                for chunk in resampler.resample(frame):
                    pcm = bytes(chunk.planes[0])[: chunk.samples * 2]
                    for aac in audio.encode(pcm, ts_ms):
                        publisher.send_audio(aac.timestamp_ms, aac.data)
            if not publisher.publishing:
                print("the RTMP server stopped the stream", file=sys.stderr)
                return 1
    finally:
        container.close()
        await publisher.close()
    print(f"done: {frames} video frames sent, {publisher.dropped} dropped")
    return 0 if frames or vstream is None else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", help="a media file PyAV can read")
    ap.add_argument("url", help="rtmp://host[:port]/app/stream")
    ap.add_argument("--seconds", type=float, default=None, help="stop after this much media")
    args = ap.parse_args(argv)
    return asyncio.run(push(args.file, args.url, args.seconds))


if __name__ == "__main__":
    sys.exit(main())
