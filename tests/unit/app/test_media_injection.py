"""Media injection (issue 18 item 4) at the call media core: RTP from anyone but the peer's
source never reaches the stream feed (so no viewer, push or recording), whatever its address,
SSRC, payload type, sequence number or timestamp; the peer's packets all do."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wcs.app.media import CallMediaCore
from wcs.rtp.packet import RtpPacket

from .test_media_core import PEER, audio_rtp, core, peer_sdp

LEGIT = (PEER, 40000)  # the audio address in peer_sdp
NAT = ("203.0.113.5", 61000)  # the peer's public address when it sits behind a NAT


class Received(list[bytes]):
    """What the stream feed handed the published stream (every viewer's packets)."""

    def append(self, item: object) -> None:
        assert isinstance(item, tuple)
        super().append(item[1])


def answered(audio_only: bool = True, **config: object) -> tuple[CallMediaCore, list[bytes]]:
    c, outlet = core(audio_only=audio_only, **config)
    c.offer()
    c.on_remote_sdp(peer_sdp(video_port=None if audio_only else 40002), True, 0.0)
    c.datagrams_to_send(0.0)
    received = Received()
    outlet.sink.rtp = received  # type: ignore[assignment]
    return c, received


Address = tuple[str, int]
SPOOF = ("spoof", 0)  # stands for the peer's own address, with an SSRC used only once


def forged_packets() -> st.SearchStrategy[tuple[Address, bytes, float]]:
    addresses = st.one_of(
        st.tuples(st.just(PEER), st.integers(1, 65535).filter(lambda p: p != 40000)),
        st.tuples(st.sampled_from(["10.0.0.2", "192.0.2.66", "127.0.0.1"]), st.integers(1, 65535)),
        st.just(SPOOF),
    )
    packets = st.builds(
        lambda pt, seq, ts, ssrc, marker: RtpPacket(pt, seq, ts, ssrc, b"FORGED", marker),
        st.integers(0, 127),
        st.integers(0, 0xFFFF),
        st.integers(0, 0xFFFFFFFF),
        st.one_of(st.just(0x77), st.integers(0, 0xFFFFFFFF)),  # the peer's SSRC too
        st.booleans(),
    ).map(lambda p: p.serialize())
    return st.tuples(addresses, packets, st.floats(0.05, 2.0))


def spoofed(data: bytes, n: int) -> bytes:
    """``data`` with an SSRC of its own: from the peer's address a new SSRC must pass
    probation (two in sequence), which one packet per SSRC never does."""
    return data[:8] + (0x50000000 + n).to_bytes(4, "big") + data[12:]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(forged_packets(), max_size=60), st.sampled_from([LEGIT, NAT]))
def test_forged_packets_never_reach_the_stream_and_the_peers_all_do(
    forged: list[tuple[Address, bytes, float]], source: Address
) -> None:
    c, received = answered()
    legit = [audio_rtp(seq) for seq in range(1, 101)]  # every 20 ms from t = 0.01 to 2.01
    events = [(0.01 + 0.02 * i, source, p) for i, p in enumerate(legit)]
    # The first two packets are the peer's (behind a NAT they are its probation); a forger
    # racing the peer's very first packets is what symmetric-RTP latching cannot tell apart.
    forged = [(source, spoofed(p, n), t) if a == SPOOF else (a, p, t) for n, (a, p, t) in
              enumerate(forged)]  # fmt: skip
    events += [(t, addr, p) for addr, p, t in forged]
    for now, addr, data in sorted(events, key=lambda e: e[0]):
        c.receive_rtp("audio", data, addr, now)
    assert [p for p in received if b"FORGED" in p] == []
    assert received == legit
    # Every forged PCMU packet is dropped and counted, or still held by a candidate on
    # probation (RTCP-looking ones are RTCP: dropped from a stranger, harmless from the peer).
    counted = sum(1 for _, p, _ in forged if p[1] & 0x7F == 0 and not 192 <= p[1] <= 223)
    guard = c.sessions["audio"].guard
    held = sum(len(candidate.held) for candidate in guard.candidates.values())
    stats = c.stats(3.0)["audio"]
    assert stats["droppedSource"] == counted - held
    assert stats["sources"] == 1 and len(guard.candidates) <= 8


def test_forged_rtp_does_not_keep_a_dead_call_alive() -> None:
    c, _ = answered(activity_timeout=2.0)
    c.receive_rtp("audio", audio_rtp(1), LEGIT, 0.5)
    for i in range(100):  # the peer is gone; a forger keeps sending
        c.receive_rtp("audio", audio_rtp(2 + i), ("192.0.2.66", 7000), 0.6 + 0.02 * i)
    c.handle_timer(2.5)
    assert [type(e).__name__ for e in iter(c.next_event, None)] == ["MediaFailed"]


def test_a_reinvite_to_a_new_address_resets_latching_to_it() -> None:
    c, received = answered()
    c.receive_rtp("audio", audio_rtp(1), LEGIT, 0.1)
    answer, _ = c.answer_remote_offer(peer_sdp(version=2, audio_port=41000, video_port=None), 1.0)
    assert answer is not None
    c.receive_rtp("audio", audio_rtp(2), (PEER, 41000), 1.1)
    c.receive_rtp("audio", audio_rtp(3), LEGIT, 1.12)  # the old address: not the source now
    c.receive_rtp("audio", audio_rtp(4), (PEER, 41000), 1.14)
    assert received == [audio_rtp(1), audio_rtp(2), audio_rtp(4)]
    assert c.sessions["audio"].remote_rtp == (PEER, 41000)
    assert c.stats(2.0)["audio"]["droppedSource"] == 1
