"""The late-joiner cache: a stream's H.264 video since its last keyframe.

Kept twice, at the two levels a subscriber can attach: the RTP packets as received (for
WebRTC viewers, which forward packets) and the depacketized access units with their pts (for
RTMP pushes and recorders). A new subscriber gets the cache first and so starts on a
decodable picture.

Packets arrive before their access unit is known to be a keyframe (the depacketizer completes
the picture later), so the packets of the current picture wait apart until the picture ends
or its access unit comes.

Bounded: a sender with very long keyframe intervals would otherwise grow it without limit.
Past the bound the cache is dropped and the owner is told to request a keyframe instead.
"""

from __future__ import annotations

from wcs.media.h264.nal import NAL_PPS, NAL_SPS, AccessUnit

GOP_MAX_PACKETS = 3000
GOP_MAX_FRAMES = 600
_STAP_A = 24


class GopCache:
    """Video since the last keyframe. ``add_*`` return False when the bound was passed
    (the cache is then empty until the next keyframe)."""

    __slots__ = (
        "_frames",
        "_gop_packets",
        "_ok",
        "_pic_packets",
        "_pic_ts",
        "max_frames",
        "max_packets",
    )

    def __init__(self, max_packets: int = GOP_MAX_PACKETS, max_frames: int = GOP_MAX_FRAMES):
        self.max_packets = max_packets
        self.max_frames = max_frames
        self._pic_ts: int | None = None
        self._pic_packets: list[bytes] = []
        self._gop_packets: list[bytes] = []
        self._frames: list[tuple[AccessUnit, float]] = []
        self._ok = False  # the cache starts with a keyframe

    def add_packet(self, packet: bytes, timestamp: int) -> bool:
        """One video RTP packet (``timestamp``: its RTP timestamp)."""
        fits = True
        if timestamp != self._pic_ts:
            fits = self._end_picture()
            self._pic_ts = timestamp
        self._pic_packets.append(packet)
        return fits

    def _end_picture(self) -> bool:
        # The finished picture's packets join the cache (or are forgotten when there is no
        # keyframe to start from; add_frame has already restarted the cache otherwise).
        fits = True
        if self._ok:
            self._gop_packets.extend(self._pic_packets)
            if len(self._gop_packets) > self.max_packets:
                self.clear()
                fits = False
        self._pic_packets = []
        return fits

    def add_frame(self, au: AccessUnit, pts_ms: float) -> bool:
        """An undamaged access unit; a keyframe restarts the cache."""
        if au.keyframe:
            packets = self._pic_packets if au.timestamp == self._pic_ts else []
            self._gop_packets = keyframe_packets(au, packets)
            self._pic_packets = []
            self._frames = [(au, pts_ms)]
            self._ok = True
        elif self._ok:
            self._frames.append((au, pts_ms))
            if len(self._frames) > self.max_frames:
                self.clear()
                return False
        return True

    def packets(self) -> list[bytes]:
        """The video packets since the last keyframe (what a new packet sink starts with)."""
        return [*self._gop_packets, *self._pic_packets] if self._ok else []

    def frames(self) -> list[tuple[AccessUnit, float]]:
        """The access units (with pts) since the last keyframe."""
        return list(self._frames) if self._ok else []

    @property
    def keyframe(self) -> AccessUnit | None:
        return self._frames[0][0] if self._ok and self._frames else None

    def clear(self) -> None:
        self._gop_packets = []
        self._frames = []
        self._pic_packets = []
        self._ok = False


def parameter_sets(au: AccessUnit) -> tuple[bytes | None, bytes | None]:
    """The SPS and PPS NAL units an access unit carries (None when absent)."""
    sps = next((n for n in au.nals if n and n[0] & 0x1F == NAL_SPS), None)
    pps = next((n for n in au.nals if n and n[0] & 0x1F == NAL_PPS), None)
    return sps, pps


def keyframe_packets(au: AccessUnit, packets: list[bytes]) -> list[bytes]:
    """The keyframe's RTP packets; with a STAP-A of SPS+PPS in front when the sender gave
    them only in the SDP (``sprop-parameter-sets``), so a viewer needs nothing else."""
    if not packets:
        return []
    for p in packets:
        t = p[12] & 0x1F if len(p) > 12 else 0
        if t in (NAL_SPS, _STAP_A):  # an SPS, or a STAP-A (which carries them in practice)
            return list(packets)
    sps, pps = parameter_sets(au)
    if sps is None or pps is None:
        return list(packets)
    first = packets[0]
    if len(first) < 12 or first[0] & 0x30:  # keep it simple: plain 12-byte headers only
        return list(packets)
    head = bytearray(first[:12])
    head[1] &= 0x7F  # no marker
    seq = ((head[2] << 8) | head[3]) - 1 & 0xFFFF
    head[2], head[3] = seq >> 8, seq & 0xFF
    stap = b"\x18" + len(sps).to_bytes(2, "big") + sps + len(pps).to_bytes(2, "big") + pps
    return [bytes(head) + stap, *packets]
