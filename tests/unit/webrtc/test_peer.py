from __future__ import annotations

import asyncio
import math
import os
import socket
import struct

import pytest

from wcs.rtp import rtcp
from wcs.rtp.srtp import SrtpContext
from wcs.webrtc import events
from wcs.webrtc.answer import SourceTrack
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.dtls import DtlsConnected, DtlsSession
from wcs.webrtc.offer import OfferError
from wcs.webrtc.peer import ViewerPeer
from wcs.webrtc.transport import PeerSettings

from .chrome_offer import CHROME_OFFER

PROFILE = "SRTP_AES128_CM_SHA1_80"
TRACKS = [
    SourceTrack("audio", "PCMU", 8000),
    SourceTrack("video", "H264", 90000, {"profile-level-id": "42e01f", "packetization-mode": "0"}),
]


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def cert() -> Certificate:
    return Certificate.generate()


Connected = tuple[ViewerPeer, list[bytes], SrtpContext, list[events.PeerStateChanged], list[float]]


def connected_peer(cert: Certificate, clock: Clock) -> Connected:
    states: list[events.PeerStateChanged] = []
    keyframes: list[float] = []
    peer = ViewerPeer(
        CHROME_OFFER,
        TRACKS,
        PeerSettings(cert),
        clock=clock,
        on_state=states.append,
        on_keyframe_request=lambda: keyframes.append(clock.now),
    )
    sent: list[bytes] = []
    peer.ice.send = lambda data: sent.append(bytes(data))  # the view is reused
    peer.ice.last_rx = clock.now
    peer.dtls = None
    local, remote = os.urandom(30), os.urandom(30)
    peer._set_state(events.CONNECTING)
    peer._connected(DtlsConnected(PROFILE, local, remote))
    viewer = SrtpContext(PROFILE, remote, local)  # the browser's side
    peer.viewer_keys = (remote, local)  # type: ignore[attr-defined]
    return peer, sent, viewer, states, keyframes


def nack(sender: int, media: int, lost: list[int]) -> bytes:
    return rtcp.Nack.from_lost(sender, media, lost).serialize()


def src_rtp(seq: int, ts: int, pt: int = 0, ssrc: int = 77) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + b"\xff" * 160


def test_send_rtp_rewrites_and_protects(cert: Certificate) -> None:
    clock = Clock()
    peer, sent, viewer, states, keyframes = connected_peer(cert, clock)
    assert [s.state for s in states] == [events.CONNECTING, events.CONNECTED]
    assert keyframes == [50.0]  # one request on connect, for the newcomer
    peer.send_rtp("audio", src_rtp(1, 160))
    peer.send_rtp("video", src_rtp(1, 3000, pt=96, ssrc=78))
    peer.send_rtp("data", src_rtp(1, 3000))  # unknown kind: ignored
    assert len(sent) == 2
    audio = viewer.unprotect(sent[0])
    video = viewer.unprotect(sent[1])
    assert audio[1] & 0x7F == 0 and video[1] & 0x7F == 108
    assert struct.unpack_from("!I", audio, 8)[0] == peer.senders["audio"].ssrc
    assert struct.unpack_from("!I", video, 8)[0] == peer.senders["video"].ssrc
    assert audio[12:] == b"\xff" * 160


def test_nothing_sent_before_connected(cert: Certificate) -> None:
    peer = ViewerPeer(CHROME_OFFER, TRACKS, PeerSettings(cert))
    sent: list[bytes] = []
    peer.ice.send = lambda data: sent.append(bytes(data))  # the view is reused
    peer.send_rtp("audio", src_rtp(1, 160))
    assert sent == []


def test_nack_retransmits_same_packet(cert: Certificate) -> None:
    clock = Clock()
    peer, sent, viewer, _, _ = connected_peer(cert, clock)
    for i in range(5):
        peer.send_rtp("video", src_rtp(100 + i, 3000 * i, pt=96))
    plain = [viewer.unprotect(p) for p in sent]
    seqs = [struct.unpack_from("!H", p, 2)[0] for p in plain]
    sent.clear()
    video_ssrc = peer.senders["video"].ssrc
    peer.handle_rtcp(nack(1, video_ssrc, [seqs[1], seqs[3], (seqs[4] + 50) & 0xFFFF]), clock.now)
    assert len(sent) == 2  # the unknown one is not in history
    # A receiver that lost the originals (this one saw them: its replay check would refuse).
    fresh = SrtpContext(PROFILE, *peer.viewer_keys)  # type: ignore[attr-defined]
    assert [fresh.unprotect(p) for p in sent] == [plain[1], plain[3]]
    assert peer.senders["video"].retransmitted == 2


def test_nack_of_an_old_packet_in_history(cert: Certificate) -> None:
    clock = Clock()
    peer, sent, _, _, _ = connected_peer(cert, clock)
    for i in range(510):
        peer.send_rtp("video", src_rtp(i, 3000 * i, pt=96))
    first = sent[0]
    sent.clear()
    seq = struct.unpack_from("!H", first, 2)[0]  # the SRTP header is in clear
    peer.handle_rtcp(nack(1, peer.senders["video"].ssrc, [seq]), clock.now)
    assert peer.send_errors == 0
    fresh = SrtpContext(PROFILE, *peer.viewer_keys)  # type: ignore[attr-defined]
    assert sent and fresh.unprotect(sent[0]) == fresh_plain(peer, seq)


def fresh_plain(peer: ViewerPeer, seq: int) -> bytes | None:
    return peer.senders["video"].history(seq)


def test_keyframe_requests_are_coalesced(cert: Certificate) -> None:
    clock = Clock()
    peer, _, _, _, keyframes = connected_peer(cert, clock)
    ssrc = peer.senders["video"].ssrc
    keyframes.clear()
    clock.now += 1.0
    peer.handle_rtcp(rtcp.Pli(1, ssrc).serialize(), clock.now)
    peer.handle_rtcp(rtcp.Pli(1, ssrc).serialize(), clock.now + 0.2)
    fir = rtcp.Fir(1, [(ssrc, 1)]).serialize()
    peer.handle_rtcp(fir, clock.now + 0.49)
    assert len(keyframes) == 1
    peer.handle_rtcp(fir, clock.now + 0.5)
    assert len(keyframes) == 2


def test_receiver_report_is_kept(cert: Certificate) -> None:
    clock = Clock()
    peer, _, _, _, _ = connected_peer(cert, clock)
    ssrc = peer.senders["audio"].ssrc
    block = struct.pack("!IIIIII", ssrc, (25 << 24) | 4, 1234, 5, 6, 7)
    peer.handle_rtcp(struct.pack("!BBHI", 0x81, 201, 7, 9) + block, clock.now)
    rr = peer.senders["audio"].rr
    assert rr is not None and rr.fraction_lost == 25 and rr.packets_lost == 4
    tracks = peer.stats()["tracks"]
    assert isinstance(tracks, dict)
    assert tracks["audio"]["fraction_lost"] == 25 / 256
    assert tracks["video"]["fraction_lost"] is None


def test_incoming_srtcp_pli_via_datagram(cert: Certificate) -> None:
    clock = Clock()
    peer, _, viewer, _, keyframes = connected_peer(cert, clock)
    keyframes.clear()
    clock.now += 5
    peer._on_datagram(viewer.protect_rtcp(rtcp.Pli(1, peer.senders["video"].ssrc).serialize()))
    assert keyframes == [clock.now]
    peer._on_datagram(b"\x81\xce\x00\x02garbage!")  # bad SRTCP: counted, no crash
    assert peer.rtcp_errors == 1


def test_timer_sends_sender_reports(cert: Certificate) -> None:
    clock = Clock()
    peer, sent, viewer, _, _ = connected_peer(cert, clock)
    peer.handle_timer(clock.now)
    assert sent == []  # nothing sent yet: no SR
    peer.send_rtp("audio", src_rtp(1, 160))
    sent.clear()
    clock.now += 1.0
    peer.handle_timer(clock.now)
    assert len(sent) == 1
    sr = viewer.unprotect_rtcp(sent[0])
    report = rtcp.parse_compound(sr)[0]
    assert isinstance(report, rtcp.SenderReport)
    assert (report.ssrc, report.packet_count, report.octet_count) == (
        peer.senders["audio"].ssrc,
        1,
        160,
    )
    peer.handle_timer(clock.now + 0.5)
    assert len(sent) == 1  # once per second


def test_consent_expiry_fails_with_keep_alive(cert: Certificate) -> None:
    clock = Clock()
    peer, sent, _, states, _ = connected_peer(cert, clock)
    clock.now += 29.0
    peer.handle_timer(clock.now)
    assert peer.state == events.CONNECTED
    clock.now += 2.0
    peer.handle_timer(clock.now)
    assert peer.state == events.FAILED and peer.info == events.ICE_KEEP_ALIVE
    assert peer.get_timer() is None  # nothing left to wake for
    assert states[-1] == events.PeerStateChanged(events.FAILED, events.ICE_KEEP_ALIVE)
    sent.clear()
    peer.send_rtp("audio", src_rtp(2, 320))
    assert sent == []


def test_no_common_codecs(cert: Certificate) -> None:
    with pytest.raises(OfferError, match=events.NO_COMMON_CODECS):
        ViewerPeer(CHROME_OFFER, [SourceTrack("video", "H265", 90000)], PeerSettings(cert))


def test_unsupported_fingerprint_hash_is_an_offer_error(cert: Certificate) -> None:
    offer = CHROME_OFFER.replace("a=fingerprint:sha-256", "a=fingerprint:md5")
    with pytest.raises(OfferError, match="md5"):
        ViewerPeer(offer, TRACKS, PeerSettings(cert))


def test_setup_roles(cert: Certificate) -> None:
    assert ViewerPeer(CHROME_OFFER, TRACKS, PeerSettings(cert)).setup == "active"
    active = CHROME_OFFER.replace("a=setup:actpass", "a=setup:active")
    assert ViewerPeer(active, TRACKS, PeerSettings(cert)).setup == "passive"
    passive = CHROME_OFFER.replace("a=setup:actpass", "a=setup:passive")
    assert ViewerPeer(passive, TRACKS, PeerSettings(cert)).setup == "active"


def test_transcode_flag(cert: Certificate) -> None:
    peer = ViewerPeer(CHROME_OFFER, [SourceTrack("audio", "G729", 8000)], PeerSettings(cert))
    assert peer.needs_audio_transcode
    assert peer.senders["audio"].payload_type == 111
    assert peer.senders["audio"].clock_rate == 48000


def _free_even_range() -> tuple[int, int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    low = port - (port & 1)
    return low, low + 9


@pytest.mark.asyncio
async def test_binds_in_range_and_times_out(cert: Certificate) -> None:
    low, high = _free_even_range()
    states: list[events.PeerStateChanged] = []
    peer = ViewerPeer(
        CHROME_OFFER,
        TRACKS,
        PeerSettings(
            cert,
            bind_ip="127.0.0.1",
            public_ip="203.0.113.7",
            port_range=(low, high),
            ice_timeout=0.3,
        ),
        on_state=states.append,
    )
    try:
        answer = await peer.start()
        port = peer.ice.port
        assert low <= port <= high and port % 2 == 0
        assert f"127.0.0.1 {port} typ host" in answer
        assert f"203.0.113.7 {port} typ host" in answer
        assert not await peer.wait_connected()
        assert peer.info == events.ICE_TIMEOUT
        assert states[-1].state == events.FAILED
    finally:
        await peer.close()
    assert peer.state == events.FAILED  # close keeps the failure


@pytest.mark.asyncio
async def test_full_port_range_is_an_error(cert: Certificate) -> None:
    held = []
    while True:  # hold sockets until the kernel hands out an even port
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        held.append(s)
        port = s.getsockname()[1]
        if port % 2 == 0:
            break
    try:
        peer = ViewerPeer(
            CHROME_OFFER,
            TRACKS,
            PeerSettings(cert, bind_ip="127.0.0.1", port_range=(port, port + 1)),
        )
        with pytest.raises(OSError, match="no free UDP port"):
            await peer.start()
        assert (peer.state, peer.info) == (events.FAILED, events.ICE_ERROR)
        await peer.close()
    finally:
        for sock in held:
            sock.close()


@pytest.mark.asyncio
async def test_ice_error_info(cert: Certificate, monkeypatch: pytest.MonkeyPatch) -> None:
    peer = ViewerPeer(CHROME_OFFER, TRACKS, PeerSettings(cert, bind_ip="127.0.0.1"))

    async def broken(*args: object) -> None:
        raise ConnectionError("ICE negotiation failed")

    monkeypatch.setattr(peer.ice, "connect", broken)
    await peer.start()
    assert not await peer.wait_connected()
    assert (peer.state, peer.info) == (events.FAILED, events.ICE_ERROR)
    await peer.close()


def test_dtls_handshake_timeout_is_dtls_error(cert: Certificate) -> None:
    clock = Clock()
    states: list[events.PeerStateChanged] = []
    peer = ViewerPeer(
        CHROME_OFFER,
        TRACKS,
        PeerSettings(cert, consent_timeout=1e9),
        clock=clock,
        on_state=states.append,
    )
    sent: list[bytes] = []
    peer.ice.send = lambda data: sent.append(bytes(data))  # the view is reused
    peer._set_state(events.CONNECTING)
    peer.dtls = DtlsSession(cert, True, peer.offer.fingerprints)
    peer.dtls.start(clock.now)
    peer._after_dtls()
    hello = list(sent)
    assert hello and hello[0][0] == 22  # a DTLS handshake record
    clock.now += 1.0
    peer.handle_timer(clock.now)
    assert sent[len(hello) :] == hello  # retransmitted on the injected clock
    while peer.state == events.CONNECTING and clock.now < 100:
        clock.now += 1.0
        peer.handle_timer(clock.now)
    assert (peer.state, peer.info) == (events.FAILED, events.DTLS_ERROR)
    assert clock.now == pytest.approx(80.0)  # 30 s after the start


def test_one_deadline_no_sender_reports_before_the_first_packet(cert: Certificate) -> None:
    clock = Clock()
    peer, sent, _, _, _ = connected_peer(cert, clock)
    # A paused stream: only consent is due (no DTLS timer, no sender report).
    assert peer.get_timer() == clock.now + peer.consent_timeout
    clock.now += 10.0
    peer.handle_timer(clock.now)
    assert sent == [] and peer.state == events.CONNECTED
    peer.send_rtp("audio", src_rtp(1, 160))  # media starts: a report is due now
    assert peer.get_timer() == clock.now
    sent.clear()
    peer.handle_timer(clock.now)
    assert len(sent) == 1  # the SR
    assert peer.get_timer() == clock.now + 1.0  # then once per second


def test_consent_deadline_follows_the_last_packet_received(cert: Certificate) -> None:
    clock = Clock()
    peer, _, _, _, _ = connected_peer(cert, clock)
    first = peer.get_timer()
    clock.now += 20.0
    peer.ice.last_rx = clock.now  # a consent check arrived
    assert first is not None
    peer.handle_timer(first)  # the old deadline fires: nothing expired, moved on
    assert peer.state == events.CONNECTED
    assert peer.get_timer() == clock.now + peer.consent_timeout


@pytest.mark.asyncio
async def test_started_peer_arms_exactly_the_ice_deadline(cert: Certificate) -> None:
    peer = ViewerPeer(
        CHROME_OFFER, TRACKS, PeerSettings(cert, bind_ip="127.0.0.1", ice_timeout=7.0)
    )
    try:
        await peer.start()
        assert peer._pump is not None
        deadline = peer.get_timer()
        assert deadline is not None and peer._pump.timer_at == deadline
        assert deadline - asyncio.get_running_loop().time() <= 7.0
    finally:
        await peer.close()
    assert peer._pump.timer_at is None  # closed: nothing left armed


def test_non_urgent_deadlines_are_on_the_shared_one_second_grid(cert: Certificate) -> None:
    """Two viewers connected at different instants: their deadlines coincide, so the event
    loop serves both in one iteration."""
    clock = Clock()
    clock.now = 50.3
    early, sent, _, _, _ = connected_peer(cert, clock)
    clock.now = 50.8
    late, _, _, _, _ = connected_peer(cert, clock)
    assert early.get_timer() == late.get_timer() == 81.0  # consent: 30 s after, rounded up
    clock.now = 52.7
    early.send_rtp("audio", src_rtp(1, 160))  # media starts: a sender report is due
    assert early.get_timer() == 53.0
    sent.clear()
    early.handle_timer(53.004)  # the loop a little late
    assert len(sent) == 1  # the SR
    assert early.get_timer() == 54.0  # then once a second, on the grid


def test_consent_checks_every_4_to_6_s_on_the_grid_and_30_s_unanswered_fail(
    cert: Certificate,
) -> None:
    clock = Clock()
    clock.now = 50.3
    peer, _, _, states, _ = connected_peer(cert, clock)
    checks: list[float] = []
    peer.ice.check_consent = lambda: checks.append(clock.now)  # type: ignore[method-assign]
    peer._consent_due = peer._next_consent_check(clock.now)  # as when ICE completes
    answers: list[float] = []
    while peer.state == events.CONNECTED and clock.now < 200:
        when = peer.get_timer()
        assert when is not None and when == int(when)  # every deadline on the grid
        clock.now = when + 0.002  # the loop a little late
        peer.ice.last_rx = clock.now  # the viewer's own checks keep coming
        before = len(checks)
        peer.handle_timer(clock.now)
        if len(checks) > before and clock.now < 100:  # answered at once, until 100 s
            peer.ice.consent_at = clock.now
            answers.append(clock.now)
    gaps = [b - a for a, b in zip([50.3, *checks], checks, strict=False)]
    assert gaps and all(4.0 - 1e-6 <= g <= 6.0 + 1e-6 for g in gaps)
    # randomized: 4 or 5 steps after the grid point that follows the (late) check
    assert {round(g) for g in gaps[1:]} <= {5, 6}
    last_answer = answers[-1]
    assert (peer.state, peer.info) == (events.FAILED, events.ICE_KEEP_ALIVE)
    assert states[-1].info == events.ICE_KEEP_ALIVE
    # at the first timer (on the grid, the loop 2 ms late) 30 s or more after the answer
    assert last_answer + 30 - 1e-6 <= clock.now <= math.ceil(last_answer + 30) + 0.002 + 1e-6
