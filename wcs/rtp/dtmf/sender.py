"""Sending DTMF as RFC 4733 telephone-events on a call's audio stream (sans-IO).

The call's outgoing audio runs one packet slot per ptime; for each slot it asks
:meth:`DtmfSender.take` first. While a key is on the wire the slot is the event's: the packet
carries the event's payload type (the one from the *answer*), the stream's SSRC and next
sequence number, and the event's start timestamp; the stream's clock still moves one ptime,
so the audio that follows continues in time. Audio pauses during an event (RFC 4733
§2.5.1.2 lets a sender stop the audio that the event replaces; sending both would make the
peer hear the tone twice or mix our silence into it).

One event: the first packet has the marker bit (§2.5.1.1), every packet the same timestamp,
durations grow by one ptime up to the tone length, and the final duration is sent
``end_packets`` times with the E bit (§2.5.1.4: three, for loss). Then ``gap_ms`` of audio
before the next key, so a queue of keys never runs together. Keys are queued per call
(per sender) and never interleaved.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from wcs.media.dtmf import DtmfSettings, event_code, parse_request
from wcs.rtp.send_state import SendState

from .payload import MAX_DURATION, event_payload


@dataclass(frozen=True, slots=True)
class DtmfSent:
    """A key's last end packet has gone out."""

    digit: str
    duration_ms: int
    timestamp: int  # the event's RTP timestamp


@dataclass(slots=True)
class _Event:
    digit: str
    code: int
    timestamp: int
    total: int  # clock units
    slots: int = 0  # packets sent
    ends: int = 0  # end packets sent


class DtmfSender:
    """Queue of keys for one call's audio stream; one event at a time."""

    def __init__(
        self,
        payload_type: int,
        clock_rate: int,
        ptime_ms: int = 20,
        settings: DtmfSettings | None = None,
    ) -> None:
        if not 0 <= payload_type <= 127:
            raise ValueError(f"payload type {payload_type} out of range")
        if clock_rate <= 0 or ptime_ms <= 0:
            raise ValueError("clock rate and ptime must be positive")
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.ptime_ms = ptime_ms
        self.settings = settings or DtmfSettings()
        self.step = clock_rate * ptime_ms // 1000  # clock units per slot
        self._queue: deque[tuple[str, int]] = deque()
        self._current: _Event | None = None
        self._gap_slots = 0
        self._events: deque[DtmfSent] = deque()

    # -- the caller's side -------------------------------------------------------------------

    def queue(self, digits: str, tone_ms: int | None = None) -> None:
        """Queue keys after those already waiting; DtmfError (nothing queued) for bad keys,
        a bad tone length or a full queue."""
        for key, ms in parse_request(digits, tone_ms, self.settings, len(self._queue)):
            self._queue.append((key, min(MAX_DURATION, ms * self.clock_rate // 1000)))

    @property
    def pending(self) -> str:
        """Keys queued and not started yet."""
        return "".join(k for k, _ in self._queue)

    @property
    def active(self) -> bool:
        """An event is on the wire: the slot belongs to it, the audio pauses."""
        return self._current is not None

    @property
    def idle(self) -> bool:
        """Nothing on the wire, nothing queued (a gap may still be running out)."""
        return self._current is None and not self._queue

    def clear(self) -> None:
        """Drop the queued keys; an event on the wire still ends properly (its end packets),
        or the peer would hear it forever."""
        self._queue.clear()

    def next_event(self) -> DtmfSent | None:
        return self._events.popleft() if self._events else None

    # -- one packet slot ---------------------------------------------------------------------

    def take(self, state: SendState) -> bytes | None:
        """The packet for this slot, or None: the slot is the audio's (silence, a sound)."""
        ev = self._current
        if ev is None:
            if self._gap_slots > 0:
                self._gap_slots -= 1
                return None
            if not self._queue:
                return None
            digit, total = self._queue.popleft()
            ev = self._current = _Event(digit, event_code(digit), state.timestamp, total)
        ev.slots += 1
        duration = min(ev.slots * self.step, ev.total)
        end = duration >= ev.total
        if end:
            ev.ends += 1
        payload = event_payload(ev.code, end, self.settings.volume, duration)
        packet = state.packet(
            self.payload_type, payload, self.step, marker=ev.slots == 1, timestamp=ev.timestamp
        )
        if ev.ends >= self.settings.end_packets:
            self._current = None
            self._gap_slots = -(-self.settings.gap_ms // self.ptime_ms)
            ms = ev.total * 1000 // self.clock_rate
            self._events.append(DtmfSent(ev.digit, ms, ev.timestamp))
        return packet
