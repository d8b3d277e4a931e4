"""RFC 7741 depacketizer: VP8 RTP payloads → whole frames (for transcoding to H.264).

The same shape and loss policy as :class:`wcs.media.h264.H264Depacketizer` (the RTP session
drives either): ``push(payload, seq, ts, marker)`` returns the frames this packet completed,
``needs_keyframe`` is True until the first keyframe and again after any sequence gap (the
frames in between are dropped: a decoder fed a broken reference chain smears), ``flush()``
closes the open frame, ``successor()`` continues after an SSRC change.

A frame is handed out as an :class:`~wcs.media.h264.nal.AccessUnit` whose one "NAL unit" is
the whole VP8 frame (the unit the stream's frame path carries); ``keyframe`` is the VP8
key-frame flag (the P bit of the frame header, RFC 6386 9.1) of an undamaged frame.
"""

from __future__ import annotations

from .h264.depacketizer import Sequenced
from .h264.nal import AccessUnit


def descriptor_length(payload: bytes) -> int:
    """Bytes of the VP8 payload descriptor at the start of ``payload``; ValueError if cut."""
    if not payload:
        raise ValueError("empty VP8 payload")
    size = 1
    if payload[0] & 0x80:  # X: the extension byte follows
        if len(payload) < 2:
            raise ValueError("VP8 descriptor cut short")
        ext = payload[1]
        size = 2
        if ext & 0x80:  # I: PictureID, 7 or 15 bits (M)
            if len(payload) <= size:
                raise ValueError("VP8 descriptor cut short")
            size += 2 if payload[size] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            size += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX
            size += 1
    if size > len(payload):
        raise ValueError("VP8 descriptor cut short")
    return size


def keyframe_size(frame: bytes) -> tuple[int, int] | None:
    """(width, height) of a VP8 key frame (RFC 6386 9.1), None for an inter frame."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return width, height


class Vp8Depacketizer(Sequenced):
    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._started = False  # its first packet (S=1, PID=0) was seen

    def push(self, payload: bytes, seq: int, ts: int, marker: bool) -> list[AccessUnit]:
        out: list[AccessUnit] = []
        gap = self._begin(seq, ts, out)
        if gap is None:
            return out
        if gap:
            self._damaged = self._ts is not None
        try:
            skip = descriptor_length(payload)
        except ValueError:
            self.stats.malformed += 1
            self._damaged = self._damaged or self._ts is not None
            return out
        start = payload[0] & 0x10 and payload[0] & 0x07 == 0  # S=1, partition 0
        if self._ts is None:
            self._ts = ts
            self._started = bool(start)
            self._damaged = self._damaged and not start
        self._parts.append(payload[skip:])
        if marker:
            self._close(out)
        return out

    def successor(self) -> Vp8Depacketizer:
        new = Vp8Depacketizer()
        new.stats.access_units = self.stats.access_units
        return new

    def _close(self, out: list[AccessUnit]) -> None:
        ts, frame = self._ts, b"".join(self._parts)
        damaged = self._damaged or not self._started or not frame
        self._ts, self._parts, self._damaged, self._started = None, [], False, False
        assert ts is not None
        key = not damaged and not frame[0] & 0x01
        if key:
            self._synced = True
            self.needs_keyframe = False
        if damaged or not self._synced:
            self.stats.damaged += 1
            self.stats.dropped += 1
            if damaged:
                self._synced = False
                self.needs_keyframe = True
            return
        self.stats.access_units += 1
        self.stats.keyframes += key
        out.append(AccessUnit(ts, [frame], keyframe=key))


__all__ = ["Vp8Depacketizer", "descriptor_length", "keyframe_size"]
