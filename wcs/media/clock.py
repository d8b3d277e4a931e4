"""The shared media clock of a stream: RTP timestamps of each track → ms since stream start.

Each track is anchored at its first packet: pts = (arrival of the first packet - start)
+ (timestamp - first timestamp) / clock rate, the RTP difference taken modulo 2^32 as a
signed number (wraps, small reorderings). Arrival anchoring leaves audio and video offset by
their different network/encoder delays; once both tracks have an RTCP SR (which maps each
track's RTP time onto the sender's one wall clock), the second track is re-anchored once on
the first so both follow the sender's clock (lip sync). Re-anchoring happens once, so pts
never jump again afterwards.
"""

from __future__ import annotations

from wcs.rtp.sr import SenderClock, signed32


class _Anchor:
    __slots__ = ("clock_rate", "ms", "ts")

    def __init__(self, ts: int, ms: float, clock_rate: int) -> None:
        self.ts = ts
        self.ms = ms
        self.clock_rate = clock_rate

    def pts(self, ts: int) -> float:
        return self.ms + signed32(ts - self.ts) * 1000.0 / self.clock_rate


class MediaClock:
    def __init__(self, start: float) -> None:
        self.start = start  # monotonic seconds
        self._anchors: dict[str, _Anchor] = {}
        self.aligned = False

    def pts(self, kind: str, ts: int, arrival: float, clock_rate: int) -> float:
        a = self._anchors.get(kind)
        if a is None:
            a = self._anchors[kind] = _Anchor(ts, (arrival - self.start) * 1000.0, clock_rate)
        return a.pts(ts)

    def rebase(self, kind: str, ts: int, arrival: float) -> None:
        """Re-anchor a track after an SSRC change or a timestamp jump: continue from now."""
        a = self._anchors.get(kind)
        if a is not None:
            self._anchors[kind] = _Anchor(ts, (arrival - self.start) * 1000.0, a.clock_rate)

    def align(self, clocks: dict[str, SenderClock]) -> bool:
        """Once both tracks have an SR: move the video anchor onto the audio's wall clock."""
        if self.aligned:
            return False
        audio, video = self._anchors.get("audio"), self._anchors.get("video")
        ca, cv = clocks.get("audio"), clocks.get("video")
        if audio is None or video is None or ca is None or cv is None:
            return False
        wa = ca.wallclock(audio.ts)
        wv = cv.wallclock(video.ts)
        if wa is None or wv is None:
            return False
        # Video's anchor timestamp happened (wv - wa) s after audio's anchor timestamp.
        video.ms = audio.ms + (wv - wa) * 1000.0
        self.aligned = True
        return True
