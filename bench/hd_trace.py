"""A realistic 1.5 Mbit/s WebRTC-like stream as a ``Trace``: ~174 H.264 + 50 PCMU packets/s.

The recorded trace (conformance/traces/02-call-av.pcap) is only ~50 video packets/s, so
figures per viewer "at 1.5 Mbit/s" derived from it are extrapolations. This one is encoded
here, deterministically, and cached on disk (``~/.cache/wcs-bench/``, keyed by every
parameter), so repeats never encode again:

* video: a moving picture with detail (gradients that move + a scrolling noise texture +
  a little temporal noise, all from fixed seeds) encoded by libx264 (PyAV) in constrained
  baseline, 30 fps, no B-frames, an IDR every 2 s, 1.5 Mbit/s with maxrate/bufsize so the
  rate stays steady; one thread, so the bitstream is the same every time. Packetized by
  the product's own RFC 6184 packetizer (mode 1: FU-A, STAP-A, payloads ≤ 1200 bytes) and
  paced like libwebrtc's pacer (at 2.5 times the target rate from each frame's capture time).
* audio: PCMU, 20 ms packets, a tone with a little seeded noise, so that no two payloads
  are alike (a server that strips our send-time extension is correlated by payload).

    python3 -m bench.hd_trace            # builds (or loads) it and prints its rate
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import struct
import sys
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from bench.trace_feed import CLOCK, Trace, TracePacket
from wcs.media.g711 import ulaw_encode
from wcs.media.h264.nal import split_annexb
from wcs.media.h264.packetizer import H264Packetizer

FORMAT = 1  # bump when the file layout or the generation below changes
_MAGIC = b"WCSHDTRACE\n"
_REC = struct.Struct("!dBBHIH")  # offset, kind, marker, seq_delta, ts_delta, payload length


@dataclass(frozen=True, slots=True)
class HdParams:
    width: int = 1280
    height: int = 720
    fps: int = 30
    kbps: int = 1500
    seconds: int = 10  # one loop; a multiple of the keyframe interval
    keyint_s: int = 2
    mtu: int = 1200  # largest RTP payload
    preset: str = "veryfast"
    pace_factor: float = 2.5
    audio_hz: float = 440.0
    seed: int = 17

    def key(self) -> str:
        raw = json.dumps({"format": FORMAT, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wcs-bench"


def _frames(p: HdParams) -> list[bytes]:
    """Raw yuv420p frames: gradients that move, a texture that scrolls, some grain."""
    import numpy as np

    rng = np.random.default_rng(p.seed)
    h, w = p.height, p.width
    texture = rng.integers(0, 64, size=(h + 64, w + 256), dtype=np.int16)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = np.mgrid[0 : h // 2, 0 : w // 2].astype(np.float32)
    out = []
    for i in range(p.fps * p.seconds):
        t = i / p.fps
        grad = 80 + 60 * np.sin(xx / 97.0 + 2.1 * t) * np.cos(yy / 73.0 - 1.3 * t)
        dx, dy = (i * 3) % 256, (i * 2) % 64  # the texture moves: motion search has work
        tex = texture[dy : dy + h, dx : dx + w]
        grain = rng.integers(-6, 7, size=(h, w), dtype=np.int16)
        y = np.clip(grad + tex + grain, 0, 255).astype(np.uint8)
        u = (128 + 50 * np.sin(cx / 41.0 + t)).astype(np.uint8)
        v = (128 + 50 * np.cos(cy / 37.0 - 0.7 * t)).astype(np.uint8)
        out.append(y.tobytes() + u.tobytes() + v.tobytes())
    return out


def _encode(p: HdParams) -> list[bytes]:
    """One Annex-B access unit per frame, in order."""
    import av
    import numpy as np

    kbit = f"{p.kbps}k"
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height = p.width, p.height
    ctx.pix_fmt = "yuv420p"
    ctx.framerate = Fraction(p.fps)
    ctx.time_base = Fraction(1, p.fps)
    ctx.bit_rate = p.kbps * 1000
    ctx.gop_size = p.fps * p.keyint_s
    ctx.max_b_frames = 0
    ctx.options = {
        "profile": "baseline",
        "preset": p.preset,
        "tune": "zerolatency",
        "maxrate": kbit,
        "bufsize": kbit,  # 1 s of VBV: a steady rate, keyframes included
        "threads": "1",  # one thread: the same bitstream on every run
        "x264-params": f"keyint={ctx.gop_size}:min-keyint={ctx.gop_size}:scenecut=0"
        ":bframes=0:repeat-headers=1:sliced-threads=0",
    }
    out: list[bytes] = []
    for i, raw in enumerate(_frames(p)):
        arr = np.frombuffer(raw, dtype=np.uint8).reshape(p.height * 3 // 2, p.width)
        frame = av.VideoFrame.from_ndarray(arr, format="yuv420p")
        frame.pts = i
        out += [bytes(pk) for pk in ctx.encode(frame)]
    out += [bytes(pk) for pk in ctx.encode(None)]
    if len(out) != p.fps * p.seconds:
        raise RuntimeError(f"libx264 gave {len(out)} access units for {p.fps * p.seconds} frames")
    return out


def _audio(p: HdParams) -> list[bytes]:
    """PCMU payloads of 20 ms: a tone plus seeded noise (every payload unique)."""
    import numpy as np

    rng = np.random.default_rng(p.seed + 1)
    n = 50 * p.seconds
    t = np.arange(n * 160, dtype=np.float64) / 8000
    pcm = 6000 * np.sin(2 * math.pi * p.audio_hz * t) + rng.normal(0, 300, t.size)
    data = ulaw_encode(np.clip(pcm, -32768, 32767).astype("<i2").tobytes())
    return [data[k * 160 : (k + 1) * 160] for k in range(n)]


def build(p: HdParams) -> Trace:
    packer = H264Packetizer(mtu=p.mtu, mode=1, stap_a=True)
    pace_bps = p.kbps * 1000 * p.pace_factor
    duration = float(p.seconds)
    packets: list[TracePacket] = []
    send_at = 0.0  # the pacer: a packet leaves no earlier than the previous one + its size
    seq = 0
    for i, au in enumerate(_encode(p)):
        capture = i / p.fps
        payloads = packer.packetize(split_annexb(au))
        for k, pl in enumerate(payloads):
            send_at = max(send_at, capture)
            packets.append(
                TracePacket(
                    min(send_at, duration - 1e-4),
                    "video",
                    k == len(payloads) - 1,
                    seq,
                    i * CLOCK["video"] // p.fps,
                    pl,
                )
            )
            seq += 1
            send_at += (12 + len(pl)) * 8 / pace_bps
    video_count = seq
    audio = _audio(p)
    for k, pl in enumerate(audio):
        packets.append(TracePacket(k * 0.02, "audio", False, k, k * 160, pl))
    packets.sort(key=lambda x: x.offset)
    return Trace(
        packets,
        duration,
        {"video": video_count, "audio": len(audio)},
        {"video": round(duration * CLOCK["video"]), "audio": round(duration * CLOCK["audio"])},
    )


def _save(trace: Trace, path: Path) -> None:
    meta = {"duration": trace.duration, "seq_span": trace.seq_span, "ts_span": trace.ts_span}
    parts = [_MAGIC, json.dumps(meta).encode() + b"\n"]
    for pk in trace.packets:
        kind = 1 if pk.kind == "video" else 0
        parts.append(
            _REC.pack(pk.offset, kind, pk.marker, pk.seq_delta, pk.ts_delta, len(pk.payload))
        )
        parts.append(pk.payload)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(b"".join(parts))
    tmp.replace(path)  # atomic: a concurrent reader sees the whole file or none


def _load(path: Path) -> Trace:
    data = path.read_bytes()
    if not data.startswith(_MAGIC):
        raise ValueError(f"{path}: not a cached HD trace")
    nl = data.index(b"\n", len(_MAGIC))
    meta = json.loads(data[len(_MAGIC) : nl])
    pos = nl + 1
    packets = []
    while pos < len(data):
        off, kind, marker, sd, td, size = _REC.unpack_from(data, pos)
        pos += _REC.size
        packets.append(
            TracePacket(
                off, "video" if kind else "audio", bool(marker), sd, td, data[pos : pos + size]
            )
        )
        pos += size
    return Trace(packets, meta["duration"], meta["seq_span"], meta["ts_span"])


def load_hd_trace(params: HdParams | None = None, cache: Path | None = None) -> Trace:
    """The HD trace: from the cache when there, else encoded (a few seconds) and cached."""
    p = params or HdParams()
    path = (cache or cache_dir()) / f"hd-{p.key()}.trace"
    if path.exists():
        try:
            return _load(path)
        except (ValueError, struct.error, KeyError):
            pass  # a damaged cache file: build it again
    trace = build(p)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(trace, path)
    return trace


def describe(trace: Trace) -> dict[str, float]:
    """Packets/s and kbit/s (RTP payload + 12-byte header) per kind, and the loop length."""
    out: dict[str, float] = {"loop_s": round(trace.duration, 2)}
    for kind in ("video", "audio"):
        pps, bps = trace.rate(kind)
        out[f"{kind}_pps"] = round(pps, 1)
        out[f"{kind}_kbps"] = round(bps / 1000, 1)
    pps, bps = trace.rate()
    out["total_pps"] = round(pps, 1)
    out["total_kbps"] = round(bps / 1000, 1)
    video = [p for p in trace.packets if p.kind == "video"]
    out["video_max_payload"] = max(len(p.payload) for p in video)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    d = HdParams()
    ap.add_argument("--width", type=int, default=d.width)
    ap.add_argument("--height", type=int, default=d.height)
    ap.add_argument("--kbps", type=int, default=d.kbps)
    ap.add_argument("--seconds", type=int, default=d.seconds)
    args = ap.parse_args(argv)
    p = HdParams(width=args.width, height=args.height, kbps=args.kbps, seconds=args.seconds)
    print(json.dumps({"params": asdict(p), **describe(load_hd_trace(p))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
