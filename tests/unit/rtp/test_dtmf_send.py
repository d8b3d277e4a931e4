"""RFC 4733 sender: one event per key on the answer's PT and clock, continuing the audio
stream's sequence numbers and clock, never interleaving queued keys."""

from __future__ import annotations

import pytest

from wcs.media.audio import parse_telephone_event
from wcs.media.dtmf import DtmfError
from wcs.rtp.dtmf import DtmfSender, DtmfSent, DtmfSettings, event_payload
from wcs.rtp.packet import RtpPacket
from wcs.rtp.send_state import SendState


def run(sender: DtmfSender, state: SendState, slots: int) -> list[RtpPacket | None]:
    out: list[RtpPacket | None] = []
    for _ in range(slots):
        p = sender.take(state)
        if p is None:
            state.skip(sender.step)  # the audio's slot (its packet is not under test here)
            state.sequence = (state.sequence + 1) & 0xFFFF
        out.append(RtpPacket.parse(p) if p is not None else None)
    return out


def test_one_key_at_8000() -> None:
    sender = DtmfSender(101, 8000)
    state = SendState(ssrc=0x1234, sequence=500, timestamp=16000)
    sender.queue("5")
    packets = [p for p in run(sender, state, 12) if p is not None]
    # 160 ms in 20 ms packets: 8 packets, the 8th is the first end packet, then 2 repeats.
    assert len(packets) == 10
    assert [p.sequence for p in packets] == list(range(500, 510))
    assert {p.timestamp for p in packets} == {16000}
    assert {p.ssrc for p in packets} == {0x1234}
    assert {p.payload_type for p in packets} == {101}
    assert [p.marker for p in packets] == [True] + [False] * 9
    events = [parse_telephone_event(p.payload) for p in packets]
    assert {e.event for e in events} == {5}
    assert {e.volume for e in events} == {10}
    assert [e.duration for e in events] == [160 * k for k in range(1, 9)] + [1280, 1280]
    assert [e.end for e in events] == [False] * 7 + [True] * 3
    # The clock ran on through the event: the audio resumes 10 slots later.
    assert sender.next_event() == DtmfSent("5", 160, 16000)
    assert sender.next_event() is None


def test_opus_clock_rate_48000() -> None:
    sender = DtmfSender(126, 48000, settings=DtmfSettings(tone_ms=100))
    state = SendState(ssrc=1, sequence=65534, timestamp=0xFFFFFF00)
    sender.queue("#")
    packets = [p for p in run(sender, state, 10) if p is not None]
    events = [parse_telephone_event(p.payload) for p in packets]
    assert [e.duration for e in events] == [960, 1920, 2880, 3840, 4800, 4800, 4800]
    assert {e.event for e in events} == {11}
    assert [p.sequence for p in packets] == [65534, 65535, 0, 1, 2, 3, 4]  # wraps
    assert {p.timestamp for p in packets} == {0xFFFFFF00}
    assert {p.payload_type for p in packets} == {126}


def test_tone_not_a_multiple_of_ptime_ends_on_its_length() -> None:
    sender = DtmfSender(101, 8000, settings=DtmfSettings(tone_ms=50))
    state = SendState(1, 0, 0)
    sender.queue("1")
    events = [parse_telephone_event(p.payload) for p in run(sender, state, 6) if p is not None]
    assert [(e.duration, e.end) for e in events] == [
        (160, False),
        (320, False),
        (400, True),
        (400, True),
        (400, True),
    ]


def test_queue_keeps_order_with_gap_and_new_timestamps() -> None:
    sender = DtmfSender(101, 8000, settings=DtmfSettings(tone_ms=100, gap_ms=100))
    state = SendState(7, 0, 0)
    sender.queue("12")
    sender.queue("#")  # a second request waits behind the first
    assert sender.pending == "12#"
    slots = run(sender, state, 40)
    # Per key: 5 slots of tone + 2 repeated ends = 7 slots, then 5 slots of audio.
    pattern = "".join("e" if p is not None else "a" for p in slots)
    assert pattern == ("e" * 7 + "a" * 5) * 3 + "a" * 4
    keys = [e for e in iter(sender.next_event, None)]
    assert [k.digit for k in keys] == ["1", "2", "#"]
    assert [k.timestamp for k in keys] == [0, 12 * 160, 24 * 160]
    markers = [i for i, p in enumerate(slots) if p is not None and p.marker]
    assert markers == [0, 12, 24]
    assert sender.idle


def test_audio_state_continues_after_the_event() -> None:
    sender = DtmfSender(101, 8000)
    state = SendState(9, 10, 1000)
    sender.queue("0")
    run(sender, state, 10)
    assert state.sequence == 20
    assert state.timestamp == 1000 + 10 * 160
    assert state.packets == 10


@pytest.mark.parametrize("digits", ["", "12x", "1 2", "E", "☎"])
def test_bad_keys_refused_and_nothing_queued(digits: str) -> None:
    sender = DtmfSender(101, 8000)
    sender.queue("9")
    with pytest.raises(DtmfError, match="dtmf"):
        sender.queue(digits)
    assert sender.pending == "9"


def test_lower_case_letters_accepted() -> None:
    sender = DtmfSender(101, 8000)
    sender.queue("abcd*#")
    assert sender.pending == "ABCD*#"


def test_bounds() -> None:
    sender = DtmfSender(101, 8000, settings=DtmfSettings(max_queue=4))
    with pytest.raises(DtmfError, match="duration"):
        sender.queue("1", tone_ms=10)
    with pytest.raises(DtmfError, match="duration"):
        sender.queue("1", tone_ms=5000)
    sender.queue("123")
    with pytest.raises(DtmfError, match="waiting"):
        sender.queue("45")
    sender.clear()
    assert sender.pending == ""
    with pytest.raises(ValueError):
        DtmfSender(128, 8000)


def test_clear_lets_the_event_on_the_wire_end() -> None:
    sender = DtmfSender(101, 8000, settings=DtmfSettings(tone_ms=100))
    state = SendState(1, 0, 0)
    sender.queue("12")
    run(sender, state, 2)
    sender.clear()
    ends = [p for p in run(sender, state, 20) if p is not None]
    assert len(ends) == 5
    assert parse_telephone_event(ends[-1].payload).end
    assert [k.digit for k in iter(sender.next_event, None)] == ["1"]


def test_event_payload_layout() -> None:
    assert event_payload(11, True, 10, 0x1234) == bytes([11, 0x8A, 0x12, 0x34])
    with pytest.raises(ValueError):
        event_payload(1, False, 64, 0)
    with pytest.raises(ValueError):
        event_payload(1, False, 10, 0x10000)
