"""RFC 4733 receiver: each key once, whatever the network and the sender did to the packets
(repeated end packets, no marker, lost or reordered start, duplicates, SSRC changes)."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from wcs.media.dtmf import DtmfKey
from wcs.rtp.dtmf import DtmfReceiver, DtmfSender, DtmfSettings, event_payload
from wcs.rtp.packet import RtpPacket
from wcs.rtp.send_state import SendState

PT = 101


def te(
    event: int,
    ts: int,
    duration: int,
    end: bool = False,
    seq: int = 0,
    ssrc: int = 1,
    marker: bool = False,
    pt: int = PT,
) -> bytes:
    payload = event_payload(event, end, 10, duration)
    return RtpPacket(pt, seq, ts, ssrc, payload, marker=marker).serialize()


def keys(rx: DtmfReceiver) -> list[DtmfKey]:
    return list(iter(rx.next_event, None))


def stream(digits: str, clock_rate: int = 8000, pt: int = PT, tone_ms: int = 100) -> list[bytes]:
    """What our own sender puts on the wire for ``digits``, audio slots left out."""
    sender = DtmfSender(pt, clock_rate, settings=DtmfSettings(tone_ms=tone_ms))
    state = SendState(0xABCD, 100, 5000)
    sender.queue(digits)
    out = []
    while not sender.idle or sender.active:
        p = sender.take(state)
        if p is not None:
            out.append(p)
        else:
            state.skip(sender.step)
    return out


def test_sender_stream_round_trip() -> None:
    rx = DtmfReceiver({PT: 8000})
    for i, p in enumerate(stream("123#*")):
        assert rx.receive_rtp(p, i * 0.02)
    got = keys(rx)
    assert [k.digit for k in got] == list("123#*")
    assert {k.duration_ms for k in got} == {100}
    assert {k.source for k in got} == {"RFC2833"}
    assert {k.ssrc for k in got} == {0xABCD}
    assert rx.get_timer() is None


def test_repeated_end_packets_without_marker_count_once() -> None:
    rx = DtmfReceiver({96: 8000})
    for d in (160, 320, 480):
        rx.receive_rtp(te(7, 1000, d, pt=96), 0.0)
    for _ in range(3):
        rx.receive_rtp(te(7, 1000, 800, end=True, pt=96), 0.1)
    assert keys(rx) == [DtmfKey("7", 100, "RFC2833", 1)]


def test_48000_clock_duration_in_ms() -> None:
    rx = DtmfReceiver({127: 48000})
    rx.receive_rtp(te(0, 1, 9600, end=True, pt=127), 0.0)
    assert [(k.digit, k.duration_ms) for k in keys(rx)] == [("0", 200)]


def test_other_payload_types_are_not_taken() -> None:
    rx = DtmfReceiver({101: 8000})
    audio = RtpPacket(0, 1, 2, 3, b"\xff" * 160).serialize()
    assert not rx.receive_rtp(audio, 0.0)
    assert not rx.receive_rtp(te(1, 0, 160, end=True, pt=100), 0.0)
    assert not rx.receive_rtp(b"\x80", 0.0)
    assert keys(rx) == []
    rx.set_payload_types({100: 8000})  # a re-INVITE moved it
    assert rx.receive_rtp(te(1, 0, 160, end=True, pt=100), 0.0)
    assert [k.digit for k in keys(rx)] == ["1"]


def test_malformed_and_non_dtmf_events_are_counted_not_reported() -> None:
    rx = DtmfReceiver({PT: 8000})
    assert rx.receive_rtp(RtpPacket(PT, 1, 2, 3, b"\x01\x80").serialize(), 0.0)
    assert rx.receive_rtp(te(16, 0, 160, end=True), 0.0)  # flash
    assert keys(rx) == []
    assert rx.malformed == 1
    assert rx.other_events == 1


def test_all_end_packets_lost_reported_on_timeout() -> None:
    rx = DtmfReceiver({PT: 8000}, timeout=0.5)
    rx.receive_rtp(te(3, 0, 160), 1.0)
    rx.receive_rtp(te(3, 0, 320), 1.02)
    assert rx.get_timer() == 1.52
    rx.handle_timer(1.3)
    assert keys(rx) == []
    rx.handle_timer(1.52)
    assert keys(rx) == [DtmfKey("3", 40, "RFC2833", 1)]
    assert rx.get_timer() is None
    rx.receive_rtp(te(3, 0, 480, end=True), 1.6)  # a straggler after all
    assert keys(rx) == []


def test_all_end_packets_lost_reported_when_the_next_key_starts() -> None:
    rx = DtmfReceiver({PT: 8000})
    rx.receive_rtp(te(1, 0, 160), 0.0)
    rx.receive_rtp(te(2, 2000, 160), 0.2)
    assert [k.digit for k in keys(rx)] == ["1"]
    rx.receive_rtp(te(2, 2000, 800, end=True), 0.3)
    assert [k.digit for k in keys(rx)] == ["2"]


def test_same_key_twice_is_two_presses() -> None:
    rx = DtmfReceiver({PT: 8000})
    for ts in (0, 2000):
        for _ in range(3):
            rx.receive_rtp(te(9, ts, 800, end=True), 0.0)
    assert [k.digit for k in keys(rx)] == ["9", "9"]


def test_ssrc_change_mid_event_counts_once() -> None:
    rx = DtmfReceiver({PT: 8000})
    rx.receive_rtp(te(4, 777, 160, ssrc=1, marker=True), 0.0)
    rx.receive_rtp(te(4, 777, 800, end=True, ssrc=2), 0.1)
    rx.receive_rtp(te(4, 777, 800, end=True, ssrc=2), 0.1)
    assert keys(rx) == [DtmfKey("4", 100, "RFC2833", 2)]


def test_new_ssrc_new_keys() -> None:
    rx = DtmfReceiver({PT: 8000})
    rx.receive_rtp(te(4, 777, 800, end=True, ssrc=1), 0.0)
    # After a re-INVITE the peer's new source starts with a lower timestamp: a new key.
    rx.receive_rtp(te(4, 5, 800, end=True, ssrc=2), 1.0)
    assert [(k.digit, k.ssrc) for k in keys(rx)] == [("4", 1), ("4", 2)]


def test_late_packet_of_an_earlier_key_keeps_the_order() -> None:
    rx = DtmfReceiver({PT: 8000})
    rx.receive_rtp(te(2, 2000, 160), 0.2)  # key 2 in progress
    rx.receive_rtp(te(1, 0, 800, end=True), 0.21)  # key 1's end, late
    rx.receive_rtp(te(2, 2000, 800, end=True), 0.3)
    assert [k.digit for k in keys(rx)] == ["1", "2"]


def test_timestamp_wrap_is_not_an_older_event() -> None:
    rx = DtmfReceiver({PT: 8000})
    rx.receive_rtp(te(1, 0xFFFFFF00, 160), 0.0)
    rx.receive_rtp(te(2, 0x100, 160), 0.2)  # after the wrap: newer
    rx.receive_rtp(te(2, 0x100, 800, end=True), 0.3)
    assert [k.digit for k in keys(rx)] == ["1", "2"]


def test_memory_is_bounded() -> None:
    rx = DtmfReceiver({PT: 8000}, memory=4)
    for i in range(10):
        rx.receive_rtp(te(1, i * 2000, 800, end=True), i)
    assert len(keys(rx)) == 10
    assert len(rx._reported) == 4


def test_an_event_overtaken_by_the_next_is_still_reported_once() -> None:
    # All that survived of key 1 is one end packet, and it came after key 2 had ended
    # (found by the property test below): reported once, late.
    rx = DtmfReceiver({PT: 8000})
    rx.receive_rtp(te(2, 2000, 640), 0.0)
    rx.receive_rtp(te(2, 2000, 800, end=True), 0.02)
    rx.receive_rtp(te(2, 2000, 800, end=True), 0.04)
    rx.receive_rtp(te(1, 0, 800, end=True), 0.06)
    rx.handle_timer(1e9)
    assert [k.digit for k in keys(rx)] == ["2", "1"]


# ---------------------------------------------------------------------- properties


def perturb(packets: list[bytes], rng: random.Random, drop_start: bool) -> list[bytes]:
    """Lose non-end packets (the start too, when asked) and up to two of the three end
    packets of every event, duplicate some, and swap neighbours (local reordering)."""
    out: list[bytes] = []
    by_event: dict[int, list[bytes]] = {}
    for p in packets:
        by_event.setdefault(RtpPacket.parse(p).timestamp, []).append(p)
    for group in by_event.values():
        ends = [p for p in group if p[13] & 0x80]
        body = [p for p in group if not p[13] & 0x80]
        kept_body = [p for i, p in enumerate(body) if not (i == 0 and drop_start)]
        kept_body = [p for p in kept_body if rng.random() > 0.3]
        kept_ends = rng.sample(ends, rng.randint(1, len(ends)))
        kept_ends.sort(key=ends.index)
        for p in kept_body + kept_ends:
            out.append(p)
            if rng.random() < 0.2:
                out.append(p)
    for i in range(len(out) - 1):
        if rng.random() < 0.3:
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


@given(
    digits=st.text(alphabet="0123456789*#ABCD", min_size=1, max_size=8),
    seed=st.integers(0, 2**32 - 1),
    drop_start=st.booleans(),
    clock_rate=st.sampled_from([8000, 48000]),
    pt=st.integers(96, 127),
)
def test_each_key_once_in_order_despite_the_network(
    digits: str, seed: int, drop_start: bool, clock_rate: int, pt: int
) -> None:
    rng = random.Random(seed)
    rx = DtmfReceiver({pt: clock_rate})
    packets = perturb(stream(digits, clock_rate, pt), rng, drop_start)
    for i, p in enumerate(packets):
        rx.receive_rtp(p, i * 0.02)
    rx.handle_timer(1e9)
    got = "".join(k.digit for k in keys(rx))
    assert sorted(got) == sorted(digits)  # each key exactly once, whatever the network did
    # In the order pressed, unless the network delivered a whole event (all that survived
    # of it) after a later one had begun: a key reported cannot be taken back.
    first_seen = list(dict.fromkeys(RtpPacket.parse(p).timestamp for p in packets))
    if first_seen == sorted(first_seen):
        assert got == digits


@given(
    digits=st.text(alphabet="0123456789*#ABCD", min_size=1, max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_lost_end_packets_still_once(digits: str, seed: int) -> None:
    """Every end packet of every event lost: keys still come out once each, in order."""
    rng = random.Random(seed)
    rx = DtmfReceiver({PT: 8000})
    packets = [p for p in stream(digits, tone_ms=200) if not p[13] & 0x80]
    for i, p in enumerate(packets):
        rx.receive_rtp(p, i * 0.02)
        if rng.random() < 0.2:
            rx.receive_rtp(p, i * 0.02)
    rx.handle_timer(1e9)
    assert "".join(k.digit for k in keys(rx)) == digits
