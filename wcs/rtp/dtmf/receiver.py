"""Receiving RFC 4733 DTMF events from a SIP peer (sans-IO): each key reported exactly once.

An event is identified by its (RTP timestamp, event code): every packet of one event carries
the event's start timestamp, whatever the sequence number, the marker bit (some senders omit
it, some repeat it) or the SSRC (a middlebox that rewrites the SSRC mid-call keeps the
timestamps). Nothing relies on the marker or on seeing the start packet.

A key is reported as a :class:`~wcs.media.dtmf.DtmfKey` when the first of its end packets
arrives (duration = the end packet's), or, when all end packets are lost, when the next
event starts or no packet came for ``timeout`` seconds (duration = the longest seen).
Repeated end packets, duplicates and late packets of a reported event are ignored: the last
``memory`` reported events are remembered. A late packet of an *older* event than the one in
progress (reordering across events) is reported at once, before the one in progress, so keys
come out in the order they were pressed -- unless all that survived of an event arrives after
a later event has already been reported: it is then reported late (never dropped, never
twice), as a key reported cannot be taken back.

Which payload types are telephone-event, and at which clock rate (8000 with G.711, 48000
with Opus: durations are in clock units), is the caller's table: our offer's and the
answer's (a peer may send on either), any PT 96-127.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass

from wcs.media.audio import parse_telephone_event
from wcs.media.dtmf import RFC2833, DtmfKey, digit_of
from wcs.rtp.packet import RtpError, header, payload_bounds
from wcs.rtp.sr import signed32

TIMEOUT = 0.5  # seconds without a packet that end an event whose end packets were all lost
MEMORY = 64  # reported events remembered, so their repeats are ignored


@dataclass(slots=True)
class _Open:
    ssrc: int
    timestamp: int
    code: int
    clock_rate: int
    duration: int
    last_seen: float


class DtmfReceiver:
    def __init__(
        self,
        payload_types: Mapping[int, int] | None = None,
        *,
        timeout: float = TIMEOUT,
        memory: int = MEMORY,
    ) -> None:
        self.payload_types: dict[int, int] = {}
        self.set_payload_types(payload_types or {})
        self.timeout = timeout
        self.memory = memory
        self._open: _Open | None = None
        self._reported: OrderedDict[tuple[int, int], None] = OrderedDict()
        self._events: deque[DtmfKey] = deque()
        self.keys = 0  # reported
        self.packets = 0  # telephone-event packets taken
        self.malformed = 0
        self.other_events = 0  # valid events that are not DTMF keys (flash, tones)

    def set_payload_types(self, payload_types: Mapping[int, int]) -> None:
        """PT -> clock rate of telephone-event (after an answer or a re-INVITE)."""
        for pt, rate in payload_types.items():
            if not 0 <= pt <= 127 or rate <= 0:
                raise ValueError(f"bad telephone-event payload type {pt}/{rate}")
        self.payload_types = dict(payload_types)

    # -- input -------------------------------------------------------------------------------

    def receive_rtp(self, packet: bytes, now: float) -> bool:
        """Take an RTP packet if it is a telephone-event one (True: not audio, do not decode
        it); False for any other payload type."""
        try:
            pt, _, timestamp, ssrc = header(packet)
        except RtpError:
            return False
        rate = self.payload_types.get(pt)
        if rate is None:
            return False
        try:
            start, end = payload_bounds(packet)
        except RtpError:
            self.malformed += 1
            return True
        self.receive_event(ssrc, timestamp, packet[start:end], rate, now)
        return True

    def receive_event(
        self, ssrc: int, timestamp: int, payload: bytes, clock_rate: int, now: float
    ) -> None:
        """One telephone-event payload (for callers that parsed the RTP header already)."""
        self.packets += 1
        try:
            ev = parse_telephone_event(payload)
        except ValueError:
            self.malformed += 1
            return
        if digit_of(ev.event) is None:
            self.other_events += 1
            return
        key = (timestamp, ev.event)
        if key in self._reported:
            return
        cur = self._open
        if cur is not None and (cur.timestamp, cur.code) == key:
            cur.duration = max(cur.duration, ev.duration)
            cur.last_seen = now
            cur.ssrc = ssrc
            if ev.end:
                self._report(cur)
            return
        new = _Open(ssrc, timestamp, ev.event, clock_rate, ev.duration, now)
        if cur is not None and cur.ssrc == ssrc and signed32(timestamp - cur.timestamp) < 0:
            # A late packet of an earlier key: it was pressed before the one in progress.
            self._report(new)
            return
        if cur is not None:
            self._report(cur)  # one key at a time: a new event ends the previous one
        self._open = new
        if ev.end:
            self._report(new)

    # -- timers and events -------------------------------------------------------------------

    def get_timer(self) -> float | None:
        return self._open.last_seen + self.timeout if self._open is not None else None

    def handle_timer(self, now: float) -> None:
        cur = self._open
        if cur is not None and now >= cur.last_seen + self.timeout:
            self._report(cur)

    def next_event(self) -> DtmfKey | None:
        return self._events.popleft() if self._events else None

    def _report(self, ev: _Open) -> None:
        if self._open is ev:
            self._open = None
        self._reported[(ev.timestamp, ev.code)] = None
        while len(self._reported) > self.memory:
            self._reported.popitem(last=False)
        digit = digit_of(ev.code)
        assert digit is not None
        ms = ev.duration * 1000 // ev.clock_rate
        self._events.append(DtmfKey(digit, ms, RFC2833, ev.ssrc))
        self.keys += 1
