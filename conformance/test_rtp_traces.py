"""Replay the RTP of conformance/traces/02-call-av.pcap (baresip ↔ baresip via Kamailio)
through the H.264 depacketizer, the G.711 decoder and the jitter buffer.

Facts from /work/shared/testbed/traces/README.md (±2 packets, captures may be regenerated):
callee → caller PCMU 153 packets of a 1000 Hz tone, H.264 packetization-mode 0 PT 96 114
packets, 46 frames (SPS, PPS, an IDR of 9 slices, then P slices); caller → callee PCMU 151
packets of 440 Hz, H.264 151 packets, 46 frames; 352x288; no loss. The RTP ports are taken
from the SDP offer (caller) and answer (callee) in the same capture.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import struct
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from wcs.media.audio import PCMU, frame_from_rtp, ulaw_decode
from wcs.media.h264 import (
    AccessUnit,
    H264Depacketizer,
    H264Packetizer,
    avc_decoder_configuration_record,
)
from wcs.pcap import read_pcap
from wcs.rtp.jitter import JitterBuffer

TRACE = Path(__file__).parent / "traces" / "02-call-av.pcap"
TOL = 2


@dataclass(frozen=True, slots=True)
class Rtp:
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    arrival: float


def parse_rtp(data: bytes, arrival: float) -> Rtp:
    """RFC 3550 header: 12 bytes, CSRCs, header extension, padding."""
    if len(data) < 12 or data[0] >> 6 != 2:
        raise ValueError("not RTP")
    b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
    pos = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        pos += 4 + 4 * struct.unpack("!H", data[pos + 2 : pos + 4])[0]
    end = len(data) - (data[-1] if b0 & 0x20 else 0)
    if pos > end:
        raise ValueError("RTP header longer than the packet")
    return Rtp(b1 & 0x7F, bool(b1 & 0x80), seq, ts, ssrc, data[pos:end], arrival)


@cache
def _trace() -> tuple[dict[str, dict[str, int]], dict[tuple[int, int], list[Rtp]]]:
    """SDP media ports of caller and callee, and the RTP packets per (src, dst) port pair."""
    ports: dict[str, dict[str, int]] = {}
    flows: dict[tuple[int, int], list[Rtp]] = defaultdict(list)
    for p in read_pcap(TRACE):
        if p.proto != "udp":
            continue
        text = p.payload[:12]
        if text.startswith((b"INVITE ", b"SIP/2.0 200")) and b"m=audio" in p.payload:
            body = p.payload.decode("utf-8", "replace")
            role = "caller" if text.startswith(b"INVITE") else "callee"
            found = re.findall(r"^m=(audio|video) (\d+)", body, re.M)
            ports[role] = {m: int(n) for m, n in found}
        elif p.payload[:1] and p.payload[0] >> 6 == 2 and p.src[1] % 2 == 0:
            with contextlib.suppress(ValueError):
                flows[(p.src[1], p.dst[1])].append(parse_rtp(p.payload, p.time))
    return ports, flows


def _stream(direction: str, media: str) -> list[Rtp]:
    ports, flows = _trace()
    src, dst = ("callee", "caller") if direction == "callee" else ("caller", "callee")
    return flows[(ports[src][media], ports[dst][media])]


DIRECTIONS = [
    # direction, audio packets, tone Hz, video packets
    pytest.param("callee", 153, 1000.0, 114, id="callee-to-caller"),
    pytest.param("caller", 151, 440.0, 151, id="caller-to-callee"),
]


def depacketize(packets: list[Rtp], **kwargs: Any) -> tuple[list[AccessUnit], H264Depacketizer]:
    d = H264Depacketizer(**kwargs)
    aus: list[AccessUnit] = []
    for r in packets:
        aus += d.push(r.payload, r.sequence, r.timestamp, r.marker)
    return aus + d.flush(), d


def decode_all(aus: list[AccessUnit]) -> tuple[list[tuple[int, int]], list[str]]:
    """Decode with FFmpeg's H.264 decoder; returns picture sizes and error messages."""

    import av
    import av.logging

    ctx = av.CodecContext.create("h264", "r")
    sizes: list[tuple[int, int]] = []
    errors: list[str] = []
    old = av.logging.get_level()
    av.logging.set_level(av.logging.WARNING)
    try:
        with av.logging.Capture() as logs:
            for au in aus:
                try:
                    sizes += [(f.width, f.height) for f in ctx.decode(av.Packet(au.annexb()))]
                except av.error.FFmpegError as exc:
                    errors.append(str(exc))
            sizes += [(f.width, f.height) for f in ctx.decode(None)]
        errors += [msg for level, _name, msg in logs if level <= av.logging.ERROR]
    finally:
        av.logging.set_level(old)
    return sizes, errors


@pytest.mark.parametrize(("direction", "n_audio", "tone", "n_video"), DIRECTIONS)
def test_video_access_units(direction: str, n_audio: int, tone: float, n_video: int) -> None:
    packets = _stream(direction, "video")
    assert abs(len(packets) - n_video) <= TOL
    assert {r.payload_type for r in packets} == {96}
    assert len({r.ssrc for r in packets}) == 1
    aus, d = depacketize(packets)
    assert abs(len(aus) - 46) <= TOL
    assert d.stats.lost == d.stats.late == d.stats.malformed == 0
    # The hang-up may cut the last picture: without its marker it is dropped as damaged.
    assert d.stats.dropped <= 1
    assert not any(a.damaged for a in aus)
    first = aus[0]
    assert first.keyframe and sum(a.keyframe for a in aus) == 1
    types = [n[0] & 0x1F for n in first.nals]
    assert types.count(7) == 1 and types.count(8) == 1
    assert types.index(7) < types.index(8) < types.index(5)
    if direction == "callee":
        assert types.count(5) == 9
    assert all({n[0] & 0x1F for n in a.nals} == {1} for a in aus[1:])
    assert d.sps_info is not None
    assert (d.sps_info.width, d.sps_info.height, d.sps_info.profile_idc) == (352, 288, 66)
    assert d.needs_keyframe == (d.stats.dropped == 1)
    # Timestamps increase, mostly by one 15 fps frame on the 90 kHz clock (the encoder
    # may skip a frame now and then).
    steps = [(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in itertools.pairwise(aus)]
    assert all(0 < s < 18000 for s in steps)
    assert sum(5900 <= s <= 6100 for s in steps) >= len(steps) - 3


@pytest.mark.parametrize(("direction", "n_audio", "tone", "n_video"), DIRECTIONS)
def test_video_decodes(direction: str, n_audio: int, tone: float, n_video: int) -> None:
    aus, _ = depacketize(_stream(direction, "video"))
    sizes, errors = decode_all(aus)
    assert errors == []
    assert len(sizes) == len(aus)
    assert set(sizes) == {(352, 288)}


def test_video_decodes_as_avcc_with_configuration_record() -> None:
    """The MP4/FLV form: length-prefixed NAL units plus an avcC record as extradata."""

    import av

    aus, d = depacketize(_stream("callee", "video"))
    assert d.sps is not None and d.pps is not None
    ctx = av.CodecContext.create("h264", "r")
    ctx.extradata = avc_decoder_configuration_record(d.sps, d.pps)
    frames = []
    for au in aus:
        frames += ctx.decode(av.Packet(au.avcc()))
    frames += ctx.decode(None)
    assert len(frames) == len(aus)
    assert {(f.width, f.height) for f in frames} == {(352, 288)}


def dominant_frequency(pcm: bytes, rate: int) -> float:
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    samples = samples[: rate * 2] * np.hanning(min(len(samples), rate * 2))
    spectrum = np.abs(np.fft.rfft(samples))
    peak = int(np.argmax(spectrum[1:])) + 1
    return float(peak * rate / len(samples))


@pytest.mark.parametrize(("direction", "n_audio", "tone", "n_video"), DIRECTIONS)
def test_audio_tone(direction: str, n_audio: int, tone: float, n_video: int) -> None:
    packets = _stream(direction, "audio")
    assert abs(len(packets) - n_audio) <= TOL
    assert {r.payload_type for r in packets} == {PCMU.static_pt}
    frames = [frame_from_rtp(PCMU, r.payload, r.timestamp) for r in packets]
    assert {f.duration for f in frames} == {160}  # ptime 20
    for a, b in itertools.pairwise(frames):
        assert (b.timestamp - a.timestamp) & 0xFFFFFFFF == a.duration
    pcm = ulaw_decode(b"".join(f.payload for f in frames))
    assert len(pcm) == 2 * 160 * len(frames)
    assert abs(dominant_frequency(pcm, 8000) - tone) <= 0.02 * tone


# --- FU-A, loss and reordering, on the trace's own access units --------------------------


def packetize(aus: list[AccessUnit], mtu: int, seq0: int = 65500) -> list[Rtp]:
    pack = H264Packetizer(mtu=mtu, mode=1)
    out: list[Rtp] = []
    seq = seq0
    for au in aus:
        payloads = pack.packetize(au.nals)
        for i, p in enumerate(payloads):
            marker = i == len(payloads) - 1
            out.append(Rtp(96, marker, seq, au.timestamp, 1, p, 0.001 * len(out)))
            seq = (seq + 1) & 0xFFFF
    return out


@pytest.fixture(scope="module")
def trace_aus() -> list[AccessUnit]:
    return depacketize(_stream("callee", "video"))[0]


def test_fu_a_round_trip(trace_aus: list[AccessUnit]) -> None:
    packets = packetize(trace_aus, mtu=300)
    assert sum(r.payload[0] & 0x1F == 28 for r in packets) > 3 * len(trace_aus)
    assert sum(r.payload[0] & 0x1F == 24 for r in packets) == 1  # SPS + PPS aggregated
    aus, d = depacketize(packets)
    assert [a.nals for a in aus] == [a.nals for a in trace_aus]
    assert [a.timestamp for a in aus] == [a.timestamp for a in trace_aus]
    assert [a.keyframe for a in aus] == [a.keyframe for a in trace_aus]
    assert d.stats.lost == 0


def _fragment_index(packets: list[Rtp], au_index: int, aus: list[AccessUnit]) -> int:
    """Index of a middle FU-A fragment inside access unit au_index."""
    ts = aus[au_index].timestamp
    idx = [
        i
        for i, r in enumerate(packets)
        if r.timestamp == ts and r.payload[0] & 0x1F == 28 and not r.payload[1] & 0xC0
    ]
    assert idx
    return idx[len(idx) // 2]


def test_loss_inside_fu(trace_aus: list[AccessUnit]) -> None:
    packets = packetize(trace_aus, mtu=300)
    lost_au = 10
    del packets[_fragment_index(packets, lost_au, trace_aus)]
    # Flagging mode shows what happened to every unit.
    aus, d = depacketize(packets, drop_damaged=False)
    assert len(aus) == len(trace_aus)
    assert not any(a.damaged for a in aus[:lost_au])
    assert aus[lost_au].damaged and not aus[lost_au].keyframe
    assert all(a.damaged and not a.keyframe for a in aus[lost_au:])  # no IDR follows
    assert d.needs_keyframe and d.stats.lost == 1
    # Default mode: nothing after the loss is handed out, and what is decodes cleanly.
    aus, d = depacketize(packets)
    assert len(aus) == lost_au and d.stats.dropped == len(trace_aus) - lost_au
    assert d.needs_keyframe
    sizes, errors = decode_all(aus)
    assert errors == [] and len(sizes) == lost_au
    # An IDR lost in the middle: no keyframe at all until the next one.
    packets = packetize(trace_aus, mtu=300)
    del packets[_fragment_index(packets, 0, trace_aus)]
    aus, d = depacketize(packets)
    assert aus == [] and d.needs_keyframe


def _swap_fragments(packets: list[Rtp], i: int) -> list[Rtp]:
    out = list(packets)
    a, b = out[i], out[i + 1]
    # Swapped on the wire: each arrives when the other one would have.
    out[i] = Rtp(b.payload_type, b.marker, b.sequence, b.timestamp, b.ssrc, b.payload, a.arrival)
    out[i + 1] = Rtp(
        a.payload_type, a.marker, a.sequence, a.timestamp, a.ssrc, a.payload, b.arrival
    )
    return out


def test_reordering_with_and_without_jitter_buffer(trace_aus: list[AccessUnit]) -> None:
    packets = packetize(trace_aus, mtu=300)
    hit = 20
    swapped = _swap_fragments(packets, _fragment_index(packets, hit, trace_aus))

    aus, d = depacketize(swapped, drop_damaged=False)
    assert aus[hit].damaged and d.stats.late == 1 and d.stats.lost == 1

    jb: JitterBuffer[Rtp] = JitterBuffer(latency=0.05)
    ordered: list[Rtp] = []
    for r in swapped:
        jb.push(r.sequence, r.timestamp, r.arrival, r)
        ordered += jb.pop_ready(r.arrival)
    ordered += jb.flush()
    assert jb.stats.lost == jb.stats.late == 0
    aus, d = depacketize(ordered)
    assert [a.nals for a in aus] == [a.nals for a in trace_aus]
    assert not any(a.damaged for a in aus) and d.stats.lost == 0
