"""The origin → edge relay datagram and its rules (sans-IO: bytes in, bytes out).

One datagram::

    0xC7 | type (1) | relay id (8) | payload | tag (12, when authenticated)

``type`` is AUDIO/VIDEO (payload: one RTP packet exactly as the origin's stream got it),
KEYFRAME (edge → origin: a viewer needs a picture; empty payload) or END (origin → edge:
the stream ended; payload: the reason). The tag is keyed BLAKE2b (RFC 7693: a MAC by
design, no HMAC construction needed; 3x cheaper than HMAC-SHA256 here) over everything
before it, 96 bits, under a 256-bit key made by the edge for this relay and handed to the
origin through Redis (the control plane), never sent on the media path. A datagram with an
unknown id or a wrong tag is dropped (and counted by the edge). The tag authenticates; it
does not encrypt: the media is readable on the wire, as plain RTP would be.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from wcs.app.stream import TrackInfo

RELAY_PROVIDER = "Relay"  # mediaProvider of an edge's copy of another node's stream
MAGIC = 0xC7
AUDIO, VIDEO, KEYFRAME, END = 1, 2, 3, 4
KINDS = {AUDIO: "audio", VIDEO: "video"}
TYPE_OF = {"audio": AUDIO, "video": VIDEO}
HEADER = struct.Struct("!BB8s")
TAG_LEN = 12
ID_LEN = 8


def peek(data: bytes) -> tuple[int, bytes] | None:
    """(type, relay id) of a datagram that has our header, without checking the tag."""
    if len(data) < HEADER.size or data[0] != MAGIC:
        return None
    _, ptype, relay_id = HEADER.unpack_from(data)
    return ptype, relay_id


class RelayCodec:
    """Seals and opens the datagrams of one relay (``key`` None: no tag, trusted network)."""

    __slots__ = ("_key", "_tag_len", "relay_id")

    def __init__(self, relay_id: bytes, key: bytes | None) -> None:
        if len(relay_id) != ID_LEN:
            raise ValueError("relay id must be 8 bytes")
        self.relay_id = relay_id
        self._key = key
        self._tag_len = TAG_LEN if key else 0

    def seal(self, ptype: int, payload: bytes) -> bytes:
        data = HEADER.pack(MAGIC, ptype, self.relay_id) + payload
        if self._key is None:
            return data
        return data + _mac(self._key, data)

    def open(self, data: bytes) -> tuple[int, bytes] | None:
        """(type, payload), or None when the datagram is not ours or not authentic."""
        if len(data) < HEADER.size + self._tag_len or data[0] != MAGIC:
            return None
        if data[2 : 2 + ID_LEN] != self.relay_id:
            return None
        if self._key is not None:
            body, tag = data[:-TAG_LEN], data[-TAG_LEN:]
            if not hmac.compare_digest(_mac(self._key, body), tag):
                return None
        else:
            body = data
        return body[1], body[HEADER.size :]


def _mac(key: bytes, data: bytes) -> bytes:
    return hashlib.blake2b(data, key=key, digest_size=TAG_LEN).digest()


class KeyframeGate:
    """Coalesces keyframe requests: at most one every ``interval`` seconds goes up."""

    __slots__ = ("_last", "interval", "passed", "swallowed")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: float | None = None
        self.passed = 0
        self.swallowed = 0

    def allow(self, now: float) -> bool:
        if self._last is not None and now - self._last < self.interval:
            self.swallowed += 1
            return False
        self._last = now
        self.passed += 1
        return True


def rtp_timestamp(packet: bytes) -> int:
    return int.from_bytes(packet[4:8], "big") if len(packet) >= 12 else 0


def tracks_to_json(tracks: Mapping[str, TrackInfo]) -> list[dict[str, Any]]:
    out = []
    for track in tracks.values():
        d = asdict(track)
        for name in ("sps", "pps"):
            value = d[name]
            d[name] = base64.b64encode(value).decode() if value is not None else None
        out.append(d)
    return out


def tracks_from_json(items: list[dict[str, Any]]) -> dict[str, TrackInfo]:
    out = {}
    for d in items:
        d = dict(d)
        for name in ("sps", "pps"):
            value = d.get(name)
            d[name] = base64.b64decode(value) if value else None
        track = TrackInfo(**d)
        out[track.kind] = track
    return out
