"""telephone-event (RFC 4733) in offers and answers: which payload type and clock to use.

- :func:`with_telephone_events` completes an offer's audio codec list with one
  ``telephone-event/RATE`` for each audio clock rate offered (8000 for G.711, 48000 for
  Opus), so whichever codec the peer picks, it can take events on the same clock.
- :func:`event_send_format`: the payload type to *send* events with is the one from the
  answer (the peer's), preferring the one whose rate is the audio codec's.
- :func:`event_receive_rates`: every telephone-event payload type the peer may send on
  (ours and the answer's), each mapped to the clock rate that the events' timestamps and
  durations count in. That is the audio codec's clock, not necessarily the rtpmap's:
  baresip 1.0 declares ``telephone-event/8000`` with Opus and counts on the 48 kHz audio
  clock (conformance/traces/04-dtmf-opus.pcap); the RTP timestamps of one stream can only
  run on one clock (RFC 4733 §2.1, RFC 3550 §5.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .model import Codec
from .offer_answer import NegotiatedMedia

TELEPHONE_EVENT = "telephone-event"
_PREFERRED_PTS = (101, *range(102, 128), *range(96, 101))


def is_telephone_event(codec: Codec) -> bool:
    return codec.name.lower() == TELEPHONE_EVENT


def with_telephone_events(codecs: Sequence[Codec], events: str = "0-15") -> list[Codec]:
    """``codecs`` plus a telephone-event for every audio clock rate that has none yet (at
    the end, on free dynamic payload types: 101 first)."""
    out = [c.copy() for c in codecs]
    used = {c.payload_type for c in out}
    have = {c.clock_rate for c in out if is_telephone_event(c)}
    rates = sorted({c.clock_rate for c in out if not is_telephone_event(c)} - have)
    for rate in rates:
        pt = next((p for p in _PREFERRED_PTS if p not in used), None)
        if pt is None:
            break  # every dynamic payload type taken: no room for more events
        used.add(pt)
        out.append(Codec(pt, TELEPHONE_EVENT, rate, None, events))
    return out


@dataclass(frozen=True, slots=True)
class EventFormat:
    payload_type: int
    clock_rate: int  # of the timestamps and durations: the audio's clock


def event_send_format(media: NegotiatedMedia) -> EventFormat | None:
    """How to send RFC 4733 events on this m-line; None when the answer has none (then
    DTMF goes by SIP INFO, or not at all)."""
    audio = media.send_codec
    if media.rejected or audio is None:
        return None
    answered = [theirs for ours, theirs in media.codecs if is_telephone_event(ours)]
    if not answered:
        return None
    same_clock = [c for c in answered if c.clock_rate == audio.clock_rate]
    chosen = (same_clock or answered)[0]
    return EventFormat(chosen.payload_type, audio.clock_rate)


def event_receive_rates(media: NegotiatedMedia) -> dict[int, int]:
    """Payload type -> clock rate for :class:`wcs.rtp.dtmf.DtmfReceiver`."""
    audio = media.receive_codec
    if media.rejected or audio is None:
        return {}
    table: dict[int, int] = {}
    for ours, theirs in media.codecs:
        if is_telephone_event(ours):
            table[ours.payload_type] = audio.clock_rate
            table[theirs.payload_type] = audio.clock_rate
    return table
