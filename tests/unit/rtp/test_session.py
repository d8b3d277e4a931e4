"""RtpSession (sans-IO): symmetric RTP, statistics, depacketizing, jitter buffer, keyframe
requests, init packets, silence and RTCP reports; all with an injected clock."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wcs import sdp
from wcs.media.audio import AudioFrame
from wcs.media.generators import black_gop
from wcs.media.h264 import AccessUnit, H264Packetizer
from wcs.rtp import rtcp
from wcs.rtp.events import KeyframeInfoNeeded
from wcs.rtp.packet import RtpPacket
from wcs.rtp.session import RtpSession
from wcs.rtp.sr import SenderClock, seconds_to_ntp

PEER = ("10.0.0.1", 4000)
PEER_RTCP = ("10.0.0.1", 4001)
REAL = ("10.0.0.9", 5555)


class Target:
    def __init__(self) -> None:
        self.packets: list[bytes] = []
        self.aus: list[AccessUnit] = []
        self.frames: list[AudioFrame] = []
        self.rebased: list[str] = []
        self.clocks: list[SenderClock] = []

    def on_rtp(self, kind: str, packet: bytes, timestamp: int) -> None:
        self.packets.append(packet)

    def on_video(self, au: AccessUnit, arrival: float) -> None:
        self.aus.append(au)

    def on_audio(self, frame: AudioFrame, arrival: float) -> None:
        self.frames.append(frame)

    def on_rebase(self, kind: str, timestamp: int, arrival: float) -> None:
        self.rebased.append(kind)

    def on_sender_clock(self, kind: str, clock: SenderClock) -> None:
        self.clocks.append(clock)


def media(kind: str) -> sdp.NegotiatedMedia:
    if kind == "video":
        c = sdp.Codec(97, "H264", 90000, None, "packetization-mode=1;profile-level-id=42e01f")
    else:
        c = sdp.Codec(8, "PCMA", 8000)
    return sdp.NegotiatedMedia(
        index=0,
        kind=kind,
        rejected=False,
        direction="sendrecv",
        remote_address=PEER,
        remote_rtcp_address=PEER_RTCP,
        receive_codec=c,
        send_codec=c,
        codecs=[(c, c)],
    )


def video_packets(count_aus: int = 10, ssrc: int = 0x1234, seq0: int = 100) -> list[bytes]:
    out = []
    seq = seq0
    gop = black_gop()
    pk = H264Packetizer(mtu=60)  # small, so pictures span several packets
    for i in range(count_aus):
        payloads = pk.packetize(list(gop[i % len(gop)]))
        for j, p in enumerate(payloads):
            out.append(
                RtpPacket(97, seq & 0xFFFF, 3000 * i, ssrc, p, j == len(payloads) - 1).serialize()
            )
            seq += 1
    return out


def session(kind: str = "video", **kw: object) -> tuple[RtpSession, Target]:
    t = Target()
    s = RtpSession(media(kind), t, local_ssrc=0xABCD, cname="me", wallclock=lambda: 1e9, **kw)  # type: ignore[arg-type]
    return s, t


def test_symmetric_rtp_latches_on_the_real_source() -> None:
    s, t = session("audio", send_silence=True)
    s.start(0.0)
    assert [a for _, a in s.datagrams_to_send(0.0)] == [
        PEER
    ] * 3  # init packets go where the SDP says
    s.datagrams_to_send(0.0)
    s.receive_rtp(RtpPacket(8, 1, 0, 77, b"\xd5" * 160).serialize(), REAL, 0.01)
    assert s.remote_rtp == PEER and t.frames == []  # held: a foreign address is on probation
    s.receive_rtp(RtpPacket(8, 2, 160, 77, b"\xd5" * 160).serialize(), REAL, 0.015)
    assert s.remote_rtp == REAL and s.latched_rtp
    assert s.remote_rtcp == ("10.0.0.9", 5556)  # RTCP follows until RTCP itself arrives
    s.handle_timer(0.02)
    assert [a for _, a in s.datagrams_to_send(0.0)] == [REAL]  # silence now goes to the real source
    assert [f.duration for f in t.frames] == [160, 160]  # the held packet was not lost


def test_unknown_payload_type_and_garbage_do_not_latch() -> None:
    s, t = session("audio")
    s.receive_rtp(RtpPacket(55, 1, 0, 77, b"x").serialize(), REAL, 0.0)
    s.receive_rtp(b"\x00" * 5, REAL, 0.0)
    s.receive_rtp(b"\x80\x08" + b"\x00" * 4, REAL, 0.0)
    assert s.remote_rtp == PEER and s.unknown_pt == 1 and s.malformed == 2 and t.packets == []


def test_video_depacketized_and_loss_counted_with_a_pli() -> None:
    s, t = session("video")
    s.start(0.0)
    s.rtcp_datagrams_to_send(0.0)
    pkts = video_packets(10)
    for i, p in enumerate(pkts):
        if i == 5:
            continue  # lost inside the first picture
        s.receive_rtp(p, PEER, 0.01 * i)
    snap = s.snapshot(1.0)
    assert snap["lost"] == 1 and snap["packets"] == len(pkts) - 1
    assert all(not au.damaged for au in t.aus)
    assert not any(au.keyframe for au in t.aus)  # the only IDR was damaged
    # Asked for a keyframe (PLI) once; rate-limited after that.
    fbs = [rtcp.parse_compound(d)[0] for d, _ in s.rtcp_datagrams_to_send(0.0)]
    assert [type(p).__name__ for p in fbs] == ["Pli"]
    assert fbs[0].media_ssrc == 0x1234


def test_keyframe_ladder_pli_fir_info() -> None:
    s, _ = session("video")
    s.start(0.0)
    s.rtcp_datagrams_to_send(0.0)
    assert s.request_keyframe(1.0) == "pli"
    assert s.request_keyframe(1.5) is None  # rate-limited
    assert s.request_keyframe(2.0) == "fir"
    assert s.request_keyframe(3.0) == "info"
    assert s.next_event() == KeyframeInfoNeeded("video") and s.next_event() is None
    assert [type(rtcp.parse_compound(d)[0]).__name__ for d, _ in s.rtcp_datagrams_to_send(0.0)] == [
        "Pli",
        "Fir",
    ]


def test_jitter_buffer_restores_order() -> None:
    s, t = session("video", jitter_latency=0.05)
    pkts = video_packets(10)
    order = list(range(len(pkts)))
    for i in range(2, len(order) - 1, 4):
        order[i], order[i + 1] = order[i + 1], order[i]
    for n, i in enumerate(order):
        s.receive_rtp(pkts[i], PEER, 0.001 * n)
    s.handle_timer(1.0)
    assert s.depacketizer is not None and s.depacketizer.stats.late == 0
    assert [au.keyframe for au in t.aus][:1] == [True] and len(t.aus) == 10
    assert t.packets == pkts  # packet sinks see them in order too


def test_without_jitter_buffer_the_frame_path_still_reorders() -> None:
    # Issue 18: a jittery link reorders; without this every reordering counted as a loss and
    # the depacketizer assembled no frame at all (recordings without video).
    s, t = session("video", reorder_latency=0.06)
    pkts = video_packets(10)
    order = list(range(len(pkts)))
    for i in range(1, len(order) - 1, 3):
        order[i], order[i + 1] = order[i + 1], order[i]
    for n, i in enumerate(order):
        s.receive_rtp(pkts[i], PEER, 0.001 * n)
    s.handle_timer(1.0)
    assert t.packets == [pkts[i] for i in order]  # viewers: as received, no delay
    assert s.depacketizer is not None and s.depacketizer.stats.lost == 0
    assert len(t.aus) == 10 and t.aus[0].keyframe and not any(au.damaged for au in t.aus)


def test_the_frame_reorder_buffer_gives_up_on_a_lost_packet_after_its_latency() -> None:
    s, _ = session("video", reorder_latency=0.06)
    pkts = video_packets(4)
    lost = len(pkts) // 2
    for n, p in enumerate(pkts):
        if n != lost:
            s.receive_rtp(p, PEER, 0.001 * n)
    held = s.frames.reorder
    assert held is not None and len(held) == len(pkts) - lost - 1  # held back
    deadline = s.get_timer()
    assert deadline is not None and deadline <= 0.001 * (lost + 1) + 0.06 + 1e-9
    s.handle_timer(deadline)
    assert len(held) == 0 and held.stats.lost == 1
    assert s.depacketizer is not None and s.depacketizer.stats.lost == 1


def test_without_any_reordering_a_reordered_packet_never_yields_a_damaged_keyframe() -> None:
    s, t = session("video")
    pkts = video_packets(10)
    pkts[1], pkts[2] = pkts[2], pkts[1]  # inside the IDR
    for n, p in enumerate(pkts):
        s.receive_rtp(p, PEER, 0.001 * n)
    assert not any(au.keyframe for au in t.aus) and all(not au.damaged for au in t.aus)


def test_ssrc_change_rebases_the_clock() -> None:
    s, t = session("video")
    for n, p in enumerate(video_packets(2, ssrc=1)):
        s.receive_rtp(p, PEER, 0.001 * n)
    for n, p in enumerate(video_packets(2, ssrc=2, seq0=40000)):
        s.receive_rtp(p, PEER, 1 + 0.001 * n)
    assert t.rebased == ["video"] and len(s.stats.sources) == 2
    assert [au.keyframe for au in t.aus] == [True, False, True, False]


def test_rtcp_reports_and_sender_report_intake() -> None:
    s, t = session("audio")
    s.start(0.0)
    for i in range(10):
        s.receive_rtp(RtpPacket(8, i, 160 * i, 77, b"\xd5" * 160).serialize(), PEER, 0.02 * i)
    sr = rtcp.SenderReport(77, seconds_to_ntp(1000.0), 1600, 10, 1600)
    s.receive_rtcp(sr.serialize(), PEER_RTCP, 0.3)
    assert s.stats.sources[77].wallclock(1600) == 1000.0
    assert [c.wallclock(1600) for c in t.clocks] == [1000.0]  # handed on for lip sync
    s.rtcp_datagrams_to_send(0.0)
    s.handle_timer(0.6)
    rtcp_out = s.rtcp_datagrams_to_send(0.6)
    report, sdes = rtcp.parse_compound(rtcp_out[0][0])
    assert isinstance(report, rtcp.SenderReport)  # we sent init packets: an SR
    assert report.reports[0].ssrc == 77 and report.reports[0].highest_sequence == 9
    assert report.reports[0].lsr != 0
    assert isinstance(sdes, rtcp.Sdes) and sdes.cname(0xABCD) == "me"
    assert rtcp_out[0][1] == PEER_RTCP
    s.receive_rtcp(b"\x81\xc9", PEER_RTCP, 0.7)
    assert s.malformed == 1


def test_no_init_packets_when_turned_off() -> None:
    s, _ = session("audio", init_packets=False, send_silence=False)
    s.start(0.0)
    assert s.datagrams_to_send(0.0) == []
    assert s.get_timer() == 0.5  # only the first RTCP report


@settings(max_examples=300, deadline=None)
@given(data=st.lists(st.binary(max_size=80), max_size=30), kind=st.sampled_from(["audio", "video"]))
def test_arbitrary_datagrams_never_raise(data: list[bytes], kind: str) -> None:
    s, _ = session(kind, jitter_latency=0.01)
    for i, d in enumerate(data):
        # Valid-looking headers with the negotiated payload type reach the depacketizer too.
        forged = b"\x80" + bytes([97 if kind == "video" else 8]) + d
        s.receive_rtp(forged, PEER, i * 0.01)
        s.receive_rtp(d, PEER, i * 0.01)
        s.receive_rtcp(d, PEER_RTCP, i * 0.01)
        s.receive_rtcp(b"\x80\xc8" + d, PEER_RTCP, i * 0.01)
    s.handle_timer(10.0)


def test_rtcp_interval_is_randomised_around_tmin() -> None:
    # RFC 3550 6.3.1: [0.5, 1.5] x Tmin / (e - 3/2); the extremes of the random draw.
    low, _ = session("audio", rng=lambda: 0.0)
    high, _ = session("audio", rng=lambda: 0.999999)
    assert round(low.rtcp_interval(), 3) == round(2.5 / 1.21828, 3)
    assert round(high.rtcp_interval(), 3) == round(7.5 / 1.21828, 3)
    # The next report is scheduled with it after each one, rounded up to the 1 s grid all
    # calls share (their reports then go out in one loop iteration).
    s, _ = session("audio", rng=lambda: 0.0)
    s.start(0.0)
    s.rtcp_datagrams_to_send(0.0)
    s.handle_timer(0.5)
    assert len(s.rtcp_datagrams_to_send(0.5)) == 1
    assert s.get_timer() is not None
    report_due = 3.0  # 0.5 + 2.5 / 1.21828 = 2.55, on the grid
    s.rtcp_datagrams_to_send(0.0)
    s.handle_timer(report_due - 0.01)
    assert not [d for d, _ in s.rtcp_datagrams_to_send(0.0) if d[1] in (200, 201)]
    s.handle_timer(report_due + 0.001)
    assert [d for d, _ in s.rtcp_datagrams_to_send(0.0) if d[1] in (200, 201)]


def dtmf_media(te_ours: int = 101, te_theirs: int = 100) -> sdp.NegotiatedMedia:
    m = media("audio")
    ours = sdp.Codec(te_ours, "telephone-event", 8000, None, "0-15")
    theirs = sdp.Codec(te_theirs, "telephone-event", 8000, None, "0-15")
    m.codecs.append((ours, theirs))
    m.telephone_event = ours
    return m


def test_silence_is_the_same_packets_on_one_sequence_and_clock() -> None:
    s = RtpSession(media("audio"), Target(), local_ssrc=0xABCD0102, cname="me")
    s.start(0.0)
    for t in (0.02, 0.04, 0.06):
        s.handle_timer(t)
    packets = [RtpPacket.parse(d) for d, _ in s.datagrams_to_send(0.06)]
    # 3 init packets, then one per 20 ms: PCMA silence, 160 clock units apart, no gap.
    assert [p.payload for p in packets] == [b"\xd5" * 160] * 6
    assert [p.sequence for p in packets] == [0xABCD + i for i in range(6)]
    assert [p.timestamp for p in packets] == [0x0102 + 160 * i for i in range(6)]
    assert {p.payload_type for p in packets} == {8} and {p.ssrc for p in packets} == {0xABCD0102}


def test_dtmf_out_on_the_answers_payload_type_between_silence() -> None:
    s = RtpSession(dtmf_media(), Target(), local_ssrc=0x10, cname="me", init_packets=False)
    s.start(0.0)
    assert s.audio is not None
    s.audio.send_dtmf("5", 40)
    now = 0.0
    for _ in range(8):
        now += 0.02
        s.handle_timer(now)
    packets = [RtpPacket.parse(d) for d, _ in s.datagrams_to_send(now)]
    events = [p for p in packets if p.payload_type == 100]  # the answer's PT, not ours
    assert events[0].marker and len({p.timestamp for p in events}) == 1
    assert [p.payload[1] & 0x80 for p in events][-3:] == [0x80] * 3  # three end packets
    seqs = [p.sequence for p in packets]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # one sequence for both


def test_received_dtmf_is_a_key_once_and_not_media() -> None:
    s, t = session("audio")
    s.update(dtmf_media())
    for seq, (end, duration) in enumerate([(0, 160), (0, 320), (1, 480), (1, 480), (1, 480)]):
        payload = bytes((11, 0x80 * end | 10, duration >> 8, duration & 0xFF))
        # PT 100 (the answer's) with no marker at all: still one key
        s.receive_rtp(RtpPacket(100, seq, 8000, 77, payload).serialize(), PEER, 0.01 * seq)
    keys = []
    while (e := s.next_event()) is not None:
        keys.append(e)
    assert [(k.digit, k.duration_ms, k.source) for k in keys] == [("#", 60, "RFC2833")]
    assert t.packets == [] and t.frames == []


def test_a_received_packet_carries_the_next_silence_slot() -> None:
    s, _ = session("audio", send_silence=True, init_packets=False, silence_early=0.01)
    s.start(0.0)  # first slot at 0.02
    s.receive_rtp(RtpPacket(8, 1, 0, 77, b"\xd5" * 160).serialize(), PEER, 0.005)
    assert s.datagrams_to_send(0.005) == []  # 15 ms ahead: waits
    s.send_early(0.012)
    (out,) = s.datagrams_to_send(0.012)
    assert out[1] == PEER and RtpPacket.parse(out[0]).timestamp == s.send_state.timestamp - 160
    assert s.get_timer() == pytest.approx(0.04)  # its timer moved to the next slot
    s.update(dataclasses.replace(media("audio"), direction="recvonly"))  # on hold for us
    s.send_early(0.035)
    assert s.datagrams_to_send(0.035) == []
