"""Replay real baresip RFC 4733 DTMF (conformance/traces/dtmf/04-dtmf-*.pcap) into the receiver.

baresip 1.0.0 caller 1001 → Kamailio → baresip callee 1002, audio only; once established the
caller sends ``123#*`` with its ``sndcode`` command (tests/peers/make_dtmf_trace.py). Facts of
the captures: telephone-event on PT 101; per key 9 packets of growing duration (the first
with the marker) and 3 end packets, 180 ms; baresip keeps sending audio between the event
packets (sequence numbers step by two). With Opus, baresip declares
``telephone-event/8000`` but counts timestamps and durations on the 48 kHz audio clock, so the
receiver must be given the audio's clock rate, not the rtpmap's.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from wcs.pcap import read_pcap
from wcs.rtp.dtmf import DtmfReceiver
from wcs.rtp.packet import is_rtp

TRACES = Path(__file__).parent / "traces" / "dtmf"
KEYS = "123#*"


@dataclass(frozen=True, slots=True)
class Trace:
    te_pt: int
    te_rate_sdp: int
    audio_rate: int
    packets: tuple[tuple[float, bytes], ...]  # every RTP packet the caller sent, in order


@cache
def load(codec: str) -> Trace:
    packets = list(read_pcap(TRACES / f"04-dtmf-{codec}.pcap"))
    offer = next(p.payload.decode() for p in packets if p.payload.startswith(b"INVITE "))
    te = re.search(r"a=rtpmap:(\d+) telephone-event/(\d+)", offer)
    audio = re.search(r"m=audio (\d+) RTP/AVP (\d+)", offer)
    assert te is not None and audio is not None
    first_pt = int(audio.group(2))
    rate = 8000
    if first_pt not in (0, 8):
        rtpmap = re.search(rf"a=rtpmap:{first_pt} [^/]+/(\d+)", offer)
        assert rtpmap is not None
        rate = int(rtpmap.group(1))
    caller_port = int(audio.group(1))
    rtp = tuple(
        (p.time, p.payload) for p in packets if p.src[1] == caller_port and is_rtp(p.payload)
    )
    return Trace(int(te.group(1)), int(te.group(2)), rate, rtp)


def replay(trace: Trace, packets: list[tuple[float, bytes]] | None = None) -> DtmfReceiver:
    rx = DtmfReceiver({trace.te_pt: trace.audio_rate})
    for t, data in packets if packets is not None else trace.packets:
        rx.receive_rtp(data, t)
        rx.handle_timer(t)
    rx.handle_timer(1e9)
    return rx


def keys(rx: DtmfReceiver) -> list[tuple[str, int]]:
    return [(k.digit, k.duration_ms) for k in iter(rx.next_event, None)]


@pytest.mark.parametrize(("codec", "audio_rate"), [("pcmu", 8000), ("opus", 48000)])
def test_trace_facts(codec: str, audio_rate: int) -> None:
    trace = load(codec)
    assert (trace.te_pt, trace.te_rate_sdp, trace.audio_rate) == (101, 8000, audio_rate)
    events = [d for _, d in trace.packets if (d[1] & 0x7F) == 101]
    assert len(events) == 12 * len(KEYS)
    assert sum((d[1] >> 7) for d in events) == len(KEYS)


@pytest.mark.parametrize("codec", ["pcmu", "opus"])
def test_each_key_once(codec: str) -> None:
    rx = replay(load(codec))
    assert keys(rx) == [(k, 180) for k in KEYS]
    assert rx.malformed == 0


@pytest.mark.parametrize("codec", ["pcmu", "opus"])
def test_without_markers_and_start_packets(codec: str) -> None:
    trace = load(codec)
    kept = []
    for t, d in trace.packets:
        if (d[1] & 0x7F) == trace.te_pt and (d[1] >> 7):
            continue  # the start of every event lost
        kept.append((t, d))
    stripped = [(t, bytes([d[0], d[1] & 0x7F]) + d[2:]) for t, d in kept]  # no marker at all
    assert [k for k, _ in keys(replay(trace, stripped))] == list(KEYS)


@pytest.mark.parametrize("codec", ["pcmu", "opus"])
@pytest.mark.parametrize("seed", range(5))
def test_duplicated_reordered_and_lossy(codec: str, seed: int) -> None:
    trace = load(codec)
    rng = random.Random(seed)
    out: list[tuple[float, bytes]] = []
    for t, d in trace.packets:
        end = (d[1] & 0x7F) == trace.te_pt and d[13] & 0x80
        if not end and rng.random() < 0.2:
            continue  # lost (an end packet too, below, but never all three)
        out.append((t, d))
        if rng.random() < 0.2:
            out.append((t, d))
    for i in range(len(out) - 1):
        if rng.random() < 0.3:
            out[i], out[i + 1] = out[i + 1], out[i]
    got = keys(replay(trace, out))
    assert [k for k, _ in got] == list(KEYS)
