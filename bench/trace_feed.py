"""Recorded H.264 + PCMU RTP from a pcap, replayed at real rate by many senders at once.

The trace (conformance/traces/02-call-av.pcap: baresip, 3 s, ~50 video + 50 audio packets/s)
is looped: every loop continues sequence numbers and timestamps, so a receiver sees one
endless stream. Each sender gets its own SSRCs and a phase offset, so N senders spread
their packets evenly instead of bursting together. Every packet carries the send time
(``bench.stamp``), taken just before ``sendto``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.lightrtc import SendLog
from bench.stamp import stamp
from wcs.pcap import read_pcap

TRACE = Path(__file__).resolve().parents[1] / "conformance" / "traces" / "02-call-av.pcap"
_HDR = struct.Struct("!BBHII")
CLOCK = {"audio": 8000, "video": 90000}
# Packets due this soon go now: uvloop's timers have whole-millisecond resolution, so a
# shorter sleep returns at once and the feeder would spin (a farm at ~70 % of a core).
EARLY = 0.001


@dataclass(frozen=True, slots=True)
class TracePacket:
    offset: float  # seconds from the start of the loop
    kind: str  # "audio" or "video"
    marker: bool
    seq_delta: int  # from the track's first packet
    ts_delta: int
    payload: bytes


@dataclass(slots=True)
class Trace:
    packets: list[TracePacket]
    duration: float  # one loop
    seq_span: dict[str, int] = field(default_factory=dict)  # per loop
    ts_span: dict[str, int] = field(default_factory=dict)

    def rate(self, kind: str | None = None) -> tuple[float, float]:
        """(packets/s, bits/s of RTP payload + 12-byte header) of one sender."""
        ps = [p for p in self.packets if kind is None or p.kind == kind]
        return len(ps) / self.duration, sum(12 + len(p.payload) for p in ps) * 8 / self.duration


def load_trace(path: Path = TRACE) -> Trace:
    """The busiest H.264 (PT 96) and PCMU (PT 0) streams of the capture."""
    streams: dict[tuple[object, object, int], list[tuple[float, bytes]]] = {}
    for p in read_pcap(path):
        d = p.payload
        if p.proto != "udp" or len(d) < 12 or d[0] & 0xC0 != 0x80 or 192 <= d[1] <= 223:
            continue
        pt = d[1] & 0x7F
        if pt in (0, 96):
            streams.setdefault((p.src, p.dst, pt), []).append((p.time, d))
    chosen: dict[str, list[tuple[float, bytes]]] = {}
    for (_, _, pt), pkts in streams.items():
        kind = "audio" if pt == 0 else "video"
        if len(pkts) > len(chosen.get(kind, [])):
            chosen[kind] = pkts
    if set(chosen) != {"audio", "video"}:
        raise ValueError(f"{path}: no H.264 PT 96 and PCMU PT 0 streams")
    t0 = min(pkts[0][0] for pkts in chosen.values())
    out: list[TracePacket] = []
    seq_span: dict[str, int] = {}
    ts_span: dict[str, int] = {}
    end = 0.0
    for kind, pkts in chosen.items():
        first = pkts[0][1]
        seq0, ts0 = struct.unpack_from("!HI", first, 2)
        for t, d in pkts:
            seq, ts = struct.unpack_from("!HI", d, 2)
            cc = d[0] & 0x0F
            off = 12 + 4 * cc
            if d[0] & 0x10:  # drop any extension the recording had
                off += 4 + 4 * struct.unpack_from("!H", d, off + 2)[0]
            payload = d[off:]
            if d[0] & 0x20:  # and its padding
                payload = payload[: len(payload) - payload[-1]]
            out.append(
                TracePacket(
                    t - t0,
                    kind,
                    bool(d[1] & 0x80),
                    (seq - seq0) & 0xFFFF,
                    (ts - ts0) & 0xFFFFFFFF,
                    payload,
                )
            )
            end = max(end, t - t0)
        seq_span[kind] = len(pkts)
    duration = end + 0.02
    for kind in chosen:
        ts_span[kind] = round(duration * CLOCK[kind])
    out.sort(key=lambda p: p.offset)
    return Trace(out, duration, seq_span, ts_span)


TRACES = ("recorded", "hd")


def named_trace(name: str) -> Trace:
    """``recorded``: the pcap above (~100 packets/s); ``hd``: ``bench.hd_trace`` (1.5 Mbit/s
    H.264 + PCMU, ~224 packets/s, encoded once and cached)."""
    if name == "recorded":
        return load_trace()
    if name == "hd":
        from bench.hd_trace import load_hd_trace

        return load_hd_trace()
    raise ValueError(f"unknown trace {name!r} (one of {', '.join(TRACES)})")


@dataclass(slots=True)
class Destination:
    """Where one sender's audio and video go, and from which socket."""

    sock: socket.socket
    audio: tuple[str, int] | None
    video: tuple[str, int] | None
    audio_pt: int = 0
    video_pt: int = 96
    ssrc_audio: int = 0
    ssrc_video: int = 0
    seq_base: dict[str, int] = field(default_factory=dict)
    ts_base: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    errors: int = 0
    active: bool = True
    log: SendLog | None = None  # record send times (servers that strip our extension)
    video_sock: socket.socket | None = None  # symmetric RTP: video from its own port


class Feeder:
    """Sends the looped trace to every destination at real rate from one task."""

    def __init__(self, trace: Trace | None = None) -> None:
        self.trace = trace or load_trace()
        self.dests: list[Destination] = []
        self._heap: list[tuple[float, int, int, int]] = []  # (due, dest, index, loop)
        self._wake: asyncio.Event | None = None
        self.late_max = 0.0

    def add(self, dest: Destination, phase: float | None = None) -> None:
        """Start sending to ``dest`` now, at ``phase`` seconds into the loop (random if None)."""
        rnd = random.SystemRandom()
        dest.ssrc_audio = dest.ssrc_audio or rnd.randrange(1, 1 << 32)
        dest.ssrc_video = dest.ssrc_video or rnd.randrange(1, 1 << 32)
        for kind in ("audio", "video"):
            dest.seq_base.setdefault(kind, rnd.randrange(1 << 16))
            dest.ts_base.setdefault(kind, rnd.randrange(1 << 32))
        if phase is None:
            phase = rnd.random() * self.trace.duration
        idx = len(self.dests)
        self.dests.append(dest)
        pkts = self.trace.packets
        # first packet at or after the phase point; loop -1 means "before the first loop"
        i = next((k for k, p in enumerate(pkts) if p.offset >= phase), 0)
        now = time.monotonic()
        heapq.heappush(
            self._heap,
            (now + pkts[i].offset - phase if pkts[i].offset >= phase else now, idx, i, 0),
        )
        if self._wake is not None:
            self._wake.set()

    def remove(self, dest: Destination) -> None:
        dest.active = False

    async def run(self, until: float | None = None) -> None:
        """Send until cancelled (or monotonic ``until``)."""
        self._wake = asyncio.Event()
        pkts = self.trace.packets
        n = len(pkts)
        duration = self.trace.duration
        seq_span, ts_span = self.trace.seq_span, self.trace.ts_span
        heap = self._heap
        pack = _HDR.pack
        while until is None or time.monotonic() < until:
            if not heap:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.5)
                continue
            now = time.monotonic()
            due = heap[0][0]
            if due > now + EARLY:
                await asyncio.sleep(min(due - now, 0.5))
                continue
            while heap and heap[0][0] <= now + EARLY:
                due, di, i, loop = heapq.heappop(heap)
                d = self.dests[di]
                if not d.active:
                    continue
                self.late_max = max(self.late_max, now - due)
                p = pkts[i]
                kind = p.kind
                addr = d.audio if kind == "audio" else d.video
                if addr is not None:
                    seq = (d.seq_base[kind] + p.seq_delta + loop * seq_span[kind]) & 0xFFFF
                    ts = (d.ts_base[kind] + p.ts_delta + loop * ts_span[kind]) & 0xFFFFFFFF
                    if kind == "audio":
                        b1, ssrc = d.audio_pt, d.ssrc_audio
                    else:
                        b1, ssrc = d.video_pt, d.ssrc_video
                    if p.marker:
                        b1 |= 0x80
                    now_ns = time.time_ns()
                    data = stamp(pack(0x80, b1, seq, ts, ssrc), p.payload, now_ns)
                    if d.log is not None:
                        d.log.record(kind, seq, p.payload, now_ns)
                    sock = d.sock if kind == "audio" or d.video_sock is None else d.video_sock
                    try:
                        sock.sendto(data, addr)
                        d.sent += 1
                    except OSError:
                        d.errors += 1
                j = i + 1
                if j == n:
                    j, loop = 0, loop + 1
                # schedule from the loop start, not from now: no drift
                step = pkts[j].offset - p.offset + (duration if j == 0 else 0.0)
                heapq.heappush(heap, (due + step, di, j, loop))
