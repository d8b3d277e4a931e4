"""DTLS-SRTP of a call's media without sockets: our offer, the peer's answer, handshakes
on the RTP and RTCP components against a real DTLS peer (the same sans-IO core), nothing
sent in clear before the keys, fingerprint and answer checks."""

from __future__ import annotations

from wcs import sdp
from wcs.app.media import CallMediaCore, MediaFailed
from wcs.app.media.dtls_srtp import DTLS_PROTO, DtlsSrtp
from wcs.rtp.packet import RtpPacket
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.dtls import DtlsConnected, DtlsSession

PEER = "10.0.0.1"
OURS = Certificate.generate("ours")
THEIRS = Certificate.generate("theirs")


def core() -> CallMediaCore:
    return CallMediaCore("c1", "10.0.0.2", ports={"audio": 30000}, dtls=DtlsSrtp("c1", OURS))


def answer(fingerprint: str | None, setup: str = "active", version: int = 1) -> bytes:
    lines = [
        "v=0", f"o=peer 1 {version} IN IP4 {PEER}", "s=-", f"c=IN IP4 {PEER}", "t=0 0",
        f"m=audio 40000 {DTLS_PROTO} 0", "a=rtpmap:0 PCMU/8000", "a=sendrecv",
        f"a=setup:{setup}",
    ]  # fmt: skip
    if fingerprint is not None:
        lines.append(f"a=fingerprint:sha-256 {fingerprint}")
    return ("\r\n".join(lines) + "\r\n").encode()


def handshake(c: CallMediaCore, peers: dict[bool, DtlsSession]) -> list[tuple[bytes, bool]]:
    """Run both components' handshakes; what the core sent that was not DTLS."""
    clear: list[tuple[bytes, bool]] = []
    now = 0.0
    for peer in peers.values():
        peer.start(now)
    for _ in range(20):
        for rtcp, peer in peers.items():
            for data in peer.data_to_send(now):
                c.receive_dtls("audio", rtcp, data, now)
        for data, route in c.datagrams_to_send(now):
            if route.raw:
                peers[route.rtcp_port].receive_datagram(data, now)
            else:
                clear.append((data, route.rtcp_port))
        now += 0.01
    return clear


def test_offer_is_udp_tls_rtp_savp_with_our_fingerprint_and_actpass() -> None:
    m = sdp.SessionDescription.parse(core().offer().decode()).media[0]
    assert m.proto == DTLS_PROTO and m.setup == "actpass"
    assert [(f.algorithm, f.value) for f in m.fingerprints] == [("sha-256", OURS.fingerprint)]
    assert not m.crypto


def test_both_components_key_and_nothing_leaves_in_clear_before() -> None:
    c = core()
    c.offer()
    c.on_remote_sdp(answer(THEIRS.fingerprint), True, 0.0)
    assert c.protection.pending == {"audio"} and c.sessions
    # The RTP session wants to send (init packets, silence): the edge must drop it all.
    for data, route in c.datagrams_to_send(0.0):
        assert route.raw or c.protection.protect("audio", data, route.rtcp_port) is None
    peers = {
        rtcp: DtlsSession(THEIRS, True, [("sha-256", OURS.fingerprint)]) for rtcp in (False, True)
    }
    handshake(c, peers)
    keys = {rtcp: p.next_event() for rtcp, p in peers.items()}
    assert all(isinstance(k, DtlsConnected) for k in keys.values()), keys
    assert c.protection.profile == "SRTP_AEAD_AES_128_GCM"
    assert c.next_event() is None
    from wcs.rtp.srtp import SrtpContext

    rtp_peer = keys[False]
    rtcp_peer = keys[True]
    assert isinstance(rtp_peer, DtlsConnected) and isinstance(rtcp_peer, DtlsConnected)
    assert rtp_peer.local_key != rtcp_peer.local_key  # two associations, two keys
    peer_rtp = SrtpContext(rtp_peer.srtp_profile, rtp_peer.local_key, rtp_peer.remote_key)
    plain = RtpPacket(
        payload_type=0, sequence=5, timestamp=0, ssrc=9, payload=b"\xff" * 160
    ).serialize()
    assert c.protection.unprotect("audio", bytes(peer_rtp.protect(plain)), False) == plain
    secured = c.protection.protect("audio", plain, False)
    assert secured is not None and bytes(peer_rtp.unprotect(secured)) == plain
    peer_rtcp = SrtpContext(rtcp_peer.srtp_profile, rtcp_peer.local_key, rtcp_peer.remote_key)
    c.handle_timer(10.0)
    report = next(d for d, r in c.datagrams_to_send(10.0) if r.rtcp_port and not r.raw)
    sent = c.protection.protect("audio", report, True)
    assert sent is not None and bytes(peer_rtcp.unprotect_rtcp(sent)) == report


def test_a_peer_whose_certificate_is_not_its_fingerprint_fails_the_call() -> None:
    c = core()
    c.offer()
    c.on_remote_sdp(answer(Certificate.generate("other").fingerprint), True, 0.0)
    peers = {
        rtcp: DtlsSession(THEIRS, True, [("sha-256", OURS.fingerprint)]) for rtcp in (False, True)
    }
    clear = handshake(c, peers)
    event = c.next_event()
    assert isinstance(event, MediaFailed) and "fingerprint" in event.info, event
    assert c.protection.contexts == {}
    assert all(c.protection.protect("audio", d, r) is None for d, r in clear)


def test_answer_without_fingerprint_or_with_bad_setup_is_refused() -> None:
    for body in (answer(None), answer(THEIRS.fingerprint, setup="holdconn")):
        c = core()
        c.offer()
        c.on_remote_sdp(body, True, 0.0)
        event = c.next_event()
        assert isinstance(event, MediaFailed) and event.info.startswith("488 "), event
        assert not c.sessions


def test_reoffer_keeps_the_association_only_for_the_same_peer() -> None:
    c = core()
    c.offer()
    c.on_remote_sdp(answer(THEIRS.fingerprint), True, 0.0)
    result, _ = c.answer_remote_offer(answer(THEIRS.fingerprint, "actpass", version=2), 1.0)
    assert result is not None
    m = sdp.SessionDescription.parse(result.decode()).media[0]
    assert m.proto == DTLS_PROTO and m.setup == "passive"
    assert m.fingerprints[0].value == OURS.fingerprint
    other = Certificate.generate("x").fingerprint
    assert c.answer_remote_offer(answer(other, "actpass", version=3), 2.0) == (None, False)
