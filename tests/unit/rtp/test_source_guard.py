"""RTP source validation at the RtpSession level (issue 18 item 4): only the accepted source
reaches the stream; new sources earn their place by probation (RFC 3550 A.1); per-SSRC state
stays bounded and expires on BYE and silence, through get_timer/handle_timer."""

from __future__ import annotations

from wcs.rtp import rtcp
from wcs.rtp.packet import RtpPacket
from wcs.rtp.session import RtpSession
from wcs.rtp.source_guard import GuardConfig
from wcs.rtp.sr import seconds_to_ntp

from .test_session import PEER, PEER_RTCP, REAL, Target, media, video_packets

FORGER = ("192.0.2.66", 7000)


def audio(seq: int, ssrc: int = 77, payload: bytes = b"\xd5" * 160) -> bytes:
    return RtpPacket(8, seq & 0xFFFF, 160 * seq, ssrc, payload).serialize()


def session(kind: str = "audio", **guard: object) -> tuple[RtpSession, Target]:
    t = Target()
    s = RtpSession(
        media(kind),
        t,
        local_ssrc=0xABCD,
        cname="me",
        send_silence=False,
        init_packets=False,
        guard=GuardConfig(**guard),  # type: ignore[arg-type]
    )
    s.start(0.0)
    return s, t


def test_the_sdp_address_is_accepted_at_once_and_a_forger_is_dropped_and_counted() -> None:
    s, t = session()
    s.receive_rtp(audio(1), PEER, 0.01)
    assert t.packets == [audio(1)]  # no probation for the address the peer signalled
    for i in range(2, 50):
        s.receive_rtp(audio(i), PEER, 0.02 * i)
        s.receive_rtp(audio(1000 + i, ssrc=5, payload=b"FORGED"), FORGER, 0.02 * i + 0.001)
        s.receive_rtp(audio(i, payload=b"FORGED"), FORGER, 0.02 * i + 0.002)  # its SSRC too
    assert t.packets == [audio(i) for i in range(1, 50)]
    assert s.remote_rtp == PEER and not s.latched_rtp  # we keep sending to the peer
    snap = s.snapshot(1.0)
    assert snap["droppedSource"] == 96 and snap["sources"] == 1 and snap["candidates"] == 0


def test_a_new_ssrc_from_the_peer_goes_through_probation_then_replaces_the_old_one() -> None:
    s, t = session("video")
    old = video_packets(2, ssrc=1)
    for n, p in enumerate(old):
        s.receive_rtp(p, PEER, 0.001 * n)
    new = video_packets(2, ssrc=2, seq0=40000)  # a device restart: new SSRC, new sequence
    s.receive_rtp(new[0], PEER, 1.0)
    assert len(t.packets) == len(old) and s.ssrc == 1  # held, not yet delivered
    for n, p in enumerate(new[1:]):
        s.receive_rtp(p, PEER, 1.001 + 0.001 * n)
    assert t.packets == old + new  # nothing of the new source was lost
    assert s.ssrc == 2 and t.rebased == ["video"] and s.guard.dropped == 0
    assert [au.keyframe for au in t.aus] == [True, False, True, False]


def test_out_of_sequence_packets_restart_the_probation() -> None:
    s, t = session(probation=3)
    s.receive_rtp(audio(1), PEER, 0.0)
    for seq in (100, 102, 104):  # never two in a row
        s.receive_rtp(audio(seq, ssrc=9), PEER, 0.1)
    assert s.ssrc == 77 and s.guard.dropped == 2  # two restarts threw the held packet away
    s.receive_rtp(audio(105, ssrc=9), PEER, 0.2)
    s.receive_rtp(audio(106, ssrc=9), PEER, 0.3)
    assert s.ssrc == 9 and t.packets[-3:] == [audio(seq, ssrc=9) for seq in (104, 105, 106)]


def test_nat_latching_needs_probation_and_the_window() -> None:
    s, t = session(latch_window=5.0)
    s.receive_rtp(audio(1), REAL, 1.0)
    s.receive_rtp(audio(2), REAL, 1.02)
    assert s.remote_rtp == REAL and len(t.packets) == 2
    late, lt = session(latch_window=5.0)
    late.receive_rtp(audio(1), REAL, 6.0)
    late.receive_rtp(audio(2), REAL, 6.02)
    assert late.remote_rtp == PEER and lt.packets == [] and late.guard.dropped == 2


def test_another_address_takes_over_only_after_the_source_went_silent() -> None:
    s, t = session(silence=3.0)
    s.receive_rtp(audio(1), PEER, 0.0)
    s.receive_rtp(audio(50, ssrc=9), REAL, 2.9)
    s.receive_rtp(audio(51, ssrc=9), REAL, 2.95)
    assert s.ssrc == 77 and s.guard.dropped == 2
    s.receive_rtp(audio(52, ssrc=9), REAL, 3.0)
    s.receive_rtp(audio(53, ssrc=9), REAL, 3.02)
    assert s.ssrc == 9 and s.remote_rtp == REAL and len(t.packets) == 3


def test_a_reinvite_to_a_new_address_moves_the_source_there() -> None:
    s, t = session()
    s.receive_rtp(audio(1), PEER, 0.0)
    moved = ("10.0.0.2", 4100)
    m = media("audio")
    m.remote_address = moved
    s.update(m, 1.0)
    s.receive_rtp(audio(2), moved, 1.1)  # the new SDP address: at once
    s.receive_rtp(audio(3), PEER, 1.12)  # the old one: no longer the source
    assert t.packets == [audio(1), audio(2)] and s.remote_rtp == moved


def test_rtcp_from_a_stranger_neither_latches_nor_creates_state() -> None:
    s, _ = session()
    s.receive_rtp(audio(1), PEER, 0.0)
    sr = rtcp.SenderReport(77, seconds_to_ntp(1000.0), 160, 1, 160)
    s.receive_rtcp(sr.serialize(), FORGER, 0.1)
    assert s.remote_rtcp == PEER_RTCP and s.sender_reports == 0 and s.guard.dropped == 1
    for ssrc in range(1000, 1100):  # SRs for SSRCs we do not receive, from the peer's host
        s.receive_rtcp(rtcp.SenderReport(ssrc, 1, 1, 1, 1).serialize(), PEER_RTCP, 0.2)
    assert set(s.stats.sources) == {77}


def test_bye_forgets_candidates_and_old_ssrcs_but_not_the_source() -> None:
    s, _ = session()
    s.receive_rtp(audio(1, ssrc=1), PEER, 0.0)
    s.receive_rtp(audio(100, ssrc=2), PEER, 1.0)
    s.receive_rtp(audio(101, ssrc=2), PEER, 1.02)  # 2 replaces 1
    s.receive_rtp(audio(500, ssrc=3), PEER, 1.1)  # a candidate
    assert set(s.stats.sources) == {1, 2} and len(s.guard.candidates) == 1
    s.receive_rtcp(rtcp.Bye([1, 2, 3]).serialize(), PEER_RTCP, 1.2)
    assert set(s.stats.sources) == {2} and s.guard.candidates == {} and s.ssrc == 2


def test_silent_candidates_and_old_ssrcs_expire_on_the_session_timer() -> None:
    s, _ = session(timeout=10.0)
    s.receive_rtp(audio(1, ssrc=1), PEER, 0.0)
    s.receive_rtp(audio(100, ssrc=2), PEER, 1.0)
    s.receive_rtp(audio(101, ssrc=2), PEER, 1.02)
    s.receive_rtp(audio(500, ssrc=3), PEER, 2.0)
    s._next_rtcp = None  # only the expiry deadline is left to look at
    assert s.get_timer() == 11.0  # the first candidate was seen at 1.0
    s.handle_timer(11.0)  # ssrc 1 was last heard at 0.0: gone; the candidate not yet
    assert set(s.stats.sources) == {2} and len(s.guard.candidates) == 1
    assert s.get_timer() == 12.0
    s.handle_timer(12.0)
    assert s.guard.candidates == {} and s.get_timer() is None and set(s.stats.sources) == {2}


def test_100_000_spoofed_ssrcs_stay_within_the_bound() -> None:
    """Issue 18: every new SSRC added a statistics entry that was never removed."""
    s, t = session(max_sources=8)
    s.receive_rtp(audio(1), PEER, 0.0)
    for i in range(100_000):
        ssrc = 0x10000 + i
        now = 0.001 + i * 1e-5
        s.receive_rtp(audio(i, ssrc=ssrc), (f"198.51.{i >> 8 & 255}.{i & 255}", 9000), now)
        # The worst case: the peer's own address spoofed, each SSRC passing probation.
        s.receive_rtp(audio(7, ssrc=ssrc), PEER, now)
        s.receive_rtp(audio(8, ssrc=ssrc), PEER, now)
        s.receive_rtcp(rtcp.SenderReport(ssrc, 1, 1, 1, 1).serialize(), PEER_RTCP, now)
        assert len(s.guard.candidates) <= 8 and len(s.stats.sources) <= 8
    assert s.guard.dropped == 100_000  # every foreign packet counted
    s.handle_timer(100.0)
    assert len(s.stats.sources) == 1 and s.guard.candidates == {}
    assert len(t.packets) == 1 + 200_000  # the spoofed peer address is the peer, as far as
    # anyone can tell without SRTP: those went through, the foreign ones never
