"""Test helpers for HLS: an ISO BMFF box walker, synthetic access units and AAC frames."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from wcs.hls import AudioConfig, Segmenter, render
from wcs.hls.validate import PlaylistHistory
from wcs.media.h264 import AccessUnit

# The callee's parameter sets in conformance/traces/02-call-av.pcap (352x288 baseline).
SPS = bytes.fromhex("6742c00dda05825a1000000300100000030 1e8f142aa00".replace(" ", ""))
PPS = bytes.fromhex("68ce32c8")
# Another picture size (libx264 160x120), for a parameter set change.
ASC_48K_MONO = bytes.fromhex("1188")


def boxes(data: bytes, offset: int = 0, end: int | None = None) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of each box in data[offset:end]."""
    end = len(data) if end is None else end
    pos = offset
    while pos < end:
        size, kind = struct.unpack_from("!I4s", data, pos)
        assert size >= 8 and pos + size <= end, f"bad box {kind!r} size {size} at {pos}"
        yield kind, data[pos + 8 : pos + size]
        pos += size


def child(payload: bytes, *path: bytes, skip: int = 0) -> bytes:
    """The payload of the first box along ``path`` (``skip`` bytes of header first)."""
    for i, kind in enumerate(path):
        found = dict(boxes(payload, skip if i == 0 else 0))
        assert kind in found, f"{kind!r} missing, have {list(found)}"
        payload = found[kind]
    return payload


def au(ts: int, key: bool, size: int = 50) -> AccessUnit:
    nals = [SPS, PPS, b"\x65" + bytes(size)] if key else [b"\x41" + bytes(size)]
    return AccessUnit(ts, nals, keyframe=key)


def drive(
    seg: Segmenter,
    seconds: float,
    fps: float = 25,
    gop: float = 1.0,
    audio: bool = True,
    start_ms: float = 0.0,
    history: PlaylistHistory | None = None,
) -> float:
    """Feed ``seconds`` of pictures (a keyframe every ``gop`` s) and 48 kHz AAC frames in
    arrival order; renders and checks the playlist after every input when ``history``."""
    frame_ms = 1000 / fps
    aac_ms = 1024 / 48
    items: list[tuple[float, str]] = []
    n = int(seconds * fps)
    items += [(start_ms + i * frame_ms, "v") for i in range(n)]
    if audio:
        items += [(start_ms + 3 + k * aac_ms, "a") for k in range(int(seconds * 1000 / aac_ms))]
    items.sort()
    per_gop = max(1, round(gop * fps))
    vi = 0
    for t, kind in items:
        if kind == "v":
            seg.push_video(au(round(t * 90), vi % per_gop == 0), t)
            vi += 1
        else:
            seg.push_audio(b"\x21" + bytes(20), t)
        if history is not None:
            history.add(render(seg, epoch=1_700_000_000.0))
    return start_ms + seconds * 1000


def audio_config() -> AudioConfig:
    return AudioConfig.from_asc(ASC_48K_MONO)


def trun_samples(fragment: bytes) -> dict[int, list[tuple[int, int, int]]]:
    """track id → [(duration, size, flags)] of a moof+mdat fragment; checks data offsets."""
    moof = next(p for k, p in boxes(fragment) if k == b"moof")
    moof_size = len(moof) + 8
    out: dict[int, list[tuple[int, int, int]]] = {}
    for kind, traf in boxes(moof):
        if kind != b"traf":
            continue
        tfhd = child(traf, b"tfhd")
        track = struct.unpack_from("!I", tfhd, 4)[0]
        trun = child(traf, b"trun")
        count, offset = struct.unpack_from("!Ii", trun, 4)
        assert offset >= moof_size + 8
        samples = [struct.unpack_from("!III", trun, 12 + 12 * i) for i in range(count)]
        assert offset + sum(s[1] for s in samples) <= len(fragment)
        out[track] = samples
    return out


def tfdt(fragment: bytes, track: int) -> int:
    moof = next(p for k, p in boxes(fragment) if k == b"moof")
    for kind, traf in boxes(moof):
        if kind == b"traf" and struct.unpack_from("!I", child(traf, b"tfhd"), 4)[0] == track:
            return int(struct.unpack_from("!Q", child(traf, b"tfdt"), 4)[0])
    raise AssertionError(f"no track {track}")
