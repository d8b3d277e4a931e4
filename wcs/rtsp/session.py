"""One RTSP session: its stream, its tracks' transports, its state and keep-alive deadline."""

from __future__ import annotations

from dataclasses import dataclass, field

from .transport import TrackTransport

INIT, READY, PLAYING = "init", "ready", "playing"


@dataclass(slots=True)
class RtspSession:
    id: str
    stream: str
    timeout: float
    expires: float
    state: str = READY
    tracks: dict[int, TrackTransport] = field(default_factory=dict)

    def touch(self, now: float) -> None:
        self.expires = now + self.timeout

    def channel_of(self, track: int, rtcp: bool) -> int | None:
        transport = self.tracks.get(track)
        if transport is None or transport.channels is None:
            return None
        return transport.channels[1 if rtcp else 0]

    def used_channels(self) -> set[int]:
        return {c for t in self.tracks.values() if t.channels for c in t.channels}
