"""CPU per call with a stream injected into it (``/call/inject_stream``, issue 13).

Audio, per 20 ms frame: the stream's payload into the call's :class:`LiveAudio` (decode,
resample, jitter buffer) and one slot of the call's :class:`OutgoingAudio` (encode in the
call's codec, the RTP header): Opus → PCMU/PCMA (the usual browser into a phone call:
libopus decode, 48 → 8 kHz resampling, G.711 encode), Opus → Opus and PCMU → PCMU (same
codec and framing: passed through), PCMU → PCMA (G.711 tables), PCMU → Opus (another phone
call's stream into an Opus call: 8 → 48 kHz, libopus encode), and silence for the
baseline. Video: the :class:`VideoForwarder` per H.264 packet, as is (mode 1 call) and
repacketized into single NAL units (mode 0 call), and a VP8 stream into an H.264 call: its
one transcode (per 320x240 picture: VP8 decode, libx264 encode; on the stream's
``Vp8Stage`` thread, shared by every injection, push and recording) and, per call, its
access units packetized onto the call (mode 1 and mode 0). No socket: sendto is not counted.

Each case runs ``FRAMES`` frames, ``REPEATS`` times; prints the median and the range of the
µs per frame and what one injected call costs of a core (50 audio frames/s; video at 150
packets/s).
Run: python3 bench/bench_inject.py
"""

from __future__ import annotations

import math
import statistics
import struct
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from bench.bench_receive import video_packets
from wcs.app.live_audio import LiveAudio
from wcs.media.frame_encoder import G711Encoder, OpusEncoder
from wcs.media.g711 import ulaw_encode
from wcs.media.h264.nal import AccessUnit
from wcs.media.vp8_h264 import Vp8ToH264
from wcs.rtp.outgoing_audio import OutgoingAudio
from wcs.rtp.send_state import SendState
from wcs.rtp.video_forward import VideoForwarder

FRAMES = 1500  # 30 s of 20 ms audio
REPEATS = 3


def voice(rate: int, seconds: float) -> bytes:
    """A speech-like signal (three tones, a slow envelope): libopus works as for a voice."""
    out = bytearray()
    for i in range(int(rate * seconds)):
        t = i / rate
        env = 0.5 + 0.5 * math.sin(2 * math.pi * 3 * t)
        x = sum(math.sin(2 * math.pi * f * t) for f in (220, 470, 1250)) / 3
        out += struct.pack("<h", int(9000 * env * x))
    return bytes(out)


def opus_frames(n: int) -> list[bytes]:
    enc = OpusEncoder(20)
    pcm = voice(48000, n * 0.02 + 0.1)
    frames = [enc.encode(pcm[i * 1920 : (i + 1) * 1920]) for i in range(n + 5)]
    return [f for f in frames if f][:n]


def pcmu_frames(n: int) -> list[bytes]:
    pcm = voice(8000, n * 0.02)
    return [ulaw_encode(pcm[i * 320 : (i + 1) * 320]) for i in range(n)]


def audio_run(source: str, frames: list[bytes] | None, call: str) -> float:
    """µs per 20 ms frame: push one frame, send one slot."""
    encoder = OpusEncoder(20) if call == "opus" else G711Encoder(call)
    out = OutgoingAudio(encoder, 0, SendState(1, 0, 0))
    out.start(0.0)
    if frames is not None:
        live = LiveAudio("bench", out.format, jitter_ms=0, max_ms=300)
        out.inject(live)
    now, sent = 0.0, 0
    t0 = time.perf_counter()
    for i in range(FRAMES):
        if frames is not None:
            live.push(source, frames[i])
        out.handle_timer(now)
        sent += len(out.packets_to_send(now))
        now += 0.02
    elapsed = time.perf_counter() - t0
    assert sent >= FRAMES - 1, sent
    return elapsed / FRAMES * 1e6


def video_run(packets: list[bytes], single_nal: bool) -> float:
    fwd = VideoForwarder(SendState(1, 0, 0), 96, single_nal=single_nal)
    t0 = time.perf_counter()
    out = 0
    for p in packets:
        out += len(fwd.rewrite(p))
    elapsed = time.perf_counter() - t0
    assert out > 0
    return elapsed / len(packets) * 1e6


def vp8_frames(pictures: int) -> list[bytes]:
    """A moving bar at 320x240, 30 fps, VP8 (libvpx realtime)."""
    import av
    import numpy as np

    enc = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = 320, 240, "yuv420p"
    enc.time_base = Fraction(1, 30)
    enc.options = {"deadline": "realtime", "cpu-used": "8", "g": "60"}
    frames: list[bytes] = []
    for i in range(pictures):
        img = np.zeros((240, 320, 3), dtype=np.uint8)
        img[:, (i * 4) % 320 : (i * 4) % 320 + 16] = 255
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        frames += [bytes(p) for p in enc.encode(frame)]
    return frames + [bytes(p) for p in enc.encode(None)]


def transcode(frames: list[bytes]) -> tuple[float, list[AccessUnit]]:
    """µs per picture of the stream's one transcode, and the access units it made."""
    t = Vp8ToH264()
    units: list[AccessUnit] = []
    t0 = time.perf_counter()
    for i, f in enumerate(frames):
        units += [au for au, _ in t.feed(f, not f[0] & 0x01, i * 1000 / 30)]
    elapsed = time.perf_counter() - t0
    assert t.encoded > 0 and t.errors == 0
    return elapsed / t.encoded * 1e6, units


def frames_run(units: list[AccessUnit], single_nal: bool) -> float:
    """µs per access unit packetized onto one call."""
    fwd = VideoForwarder(SendState(1, 0, 0), 96, single_nal=single_nal)
    t0 = time.perf_counter()
    out = sum(len(fwd.frame(au)) for au in units)
    elapsed = time.perf_counter() - t0
    assert out >= len(units)
    return elapsed / len(units) * 1e6


def report(name: str, runs: list[float], per_second: int) -> None:
    med = statistics.median(runs)
    share = med * per_second / 1e6 * 100
    print(f"| {name} | {med:.1f} | {min(runs):.1f}-{max(runs):.1f} | {share:.2f} % |")


def main() -> None:
    opus, pcmu = opus_frames(FRAMES), pcmu_frames(FRAMES)
    print("| case | µs/frame median | range | one call, % of a core |")
    print("|---|---|---|---|")
    cases = (
        ("silence (no injection), PCMU call", "PCMU", None, "PCMU"),
        ("Opus stream → PCMU call", "opus", opus, "PCMU"),
        ("Opus stream → PCMA call", "opus", opus, "PCMA"),
        ("Opus stream → Opus call (passed through)", "opus", opus, "opus"),
        ("PCMU stream → PCMU call (passed through)", "PCMU", pcmu, "PCMU"),
        ("PCMU stream → PCMA call", "PCMU", pcmu, "PCMA"),
        ("PCMU stream → Opus call", "PCMU", pcmu, "opus"),
    )
    for name, source, frames, call in cases:
        report(name, [audio_run(source, frames, call) for _ in range(REPEATS)], 50)
    # bench_receive's H.264: 300 pictures (10 GOPs), sequence numbers continuous.
    packets = video_packets(300)
    for name, single in (("H.264 forwarded, per packet", False),
                         ("H.264 → single NAL units (mode 0 call), per packet", True)):  # fmt: skip
        report(name, [video_run(packets, single) for _ in range(REPEATS)], 150)
    vp8 = vp8_frames(150)
    runs = [transcode(vp8) for _ in range(REPEATS)]
    report("VP8 → H.264 (320x240, per stream), per picture", [r[0] for r in runs], 30)
    units = runs[0][1]
    for name, single in (("its H.264 into a mode 1 call, per picture", False),
                         ("its H.264 into a mode 0 call, per picture", True)):  # fmt: skip
        report(name, [frames_run(units, single) for _ in range(REPEATS)], 30)


if __name__ == "__main__":
    main()
