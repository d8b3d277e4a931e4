"""CallMediaCore for an incoming call: the INVITE's offer is answered, the media starts
when the answer is sent, an offer with nothing in common is refused."""

from __future__ import annotations

import pytest

from wcs import sdp
from wcs.app.media.core import CallMediaCore
from wcs.app.media.dtls_srtp import DtlsSrtp
from wcs.app.media.sdes import SdesKeying
from wcs.rtp.packet import RtpPacket
from wcs.rtp.srtp import SrtpContext
from wcs.sdp import sdes
from wcs.webrtc.certificate import Certificate

from .test_media_core import PEER, PORTS, Outlet, core, peer_sdp


def test_first_offer_is_answered_and_the_media_starts_once_sent() -> None:
    c, outlet = core()
    answer = c.answer_first_offer(peer_sdp())
    assert answer is not None
    parsed = sdp.SessionDescription.parse(answer.decode())
    assert [(m.kind, m.port) for m in parsed.media] == [("audio", 30000), ("video", 30002)]
    assert parsed.media[0].codecs[0].name == "PCMU"  # the offerer's codec
    assert c.sessions == {} and outlet.published == []  # nothing before the 200 is sent
    c.start_answered(5.0)
    assert set(c.sessions) == {"audio", "video"} and len(outlet.published) == 1
    routes = {r.address for _, r in c.datagrams_to_send(5.0)}
    assert routes == {(PEER, 40000), (PEER, 40002)}


def test_audio_only_call_refuses_the_video_m_line() -> None:
    c, _ = core(audio_only=True)
    answer = c.answer_first_offer(peer_sdp())
    assert answer is not None
    parsed = sdp.SessionDescription.parse(answer.decode())
    assert [m.port for m in parsed.media] == [PORTS["audio"], 0]


def test_no_codec_in_common_is_none() -> None:
    c, outlet = core()
    g722 = (
        peer_sdp(video_port=None)
        .replace(b"RTP/AVP 0", b"RTP/AVP 9")
        .replace(b"rtpmap:0 PCMU/8000", b"rtpmap:9 G722/8000")
    )
    assert c.answer_first_offer(g722) is None
    c.start_answered(1.0)  # nothing was answered: nothing starts
    assert outlet.published == []


def _incoming(keying: SdesKeying | None = None, dtls: DtlsSrtp | None = None) -> CallMediaCore:
    return CallMediaCore("c1", "192.0.2.1", ports=PORTS, outlet=Outlet(), keying=keying, dtls=dtls)


def test_sdes_offer_is_answered_with_our_key_and_protects_once_answered() -> None:
    theirs = sdes.new_key("AES_CM_128_HMAC_SHA1_80")
    offer = (
        peer_sdp(video_port=None)
        .replace(b"RTP/AVP 0", b"RTP/SAVP 0")
        .replace(b"a=sendrecv", f"a=sendrecv\r\na=crypto:{sdes.crypto_line(1, theirs)}".encode())
    )
    c = _incoming(SdesKeying("c1", "optional"))
    answer = c.answer_first_offer(offer)
    assert answer is not None
    m = sdp.SessionDescription.parse(answer.decode()).media[0]
    assert m.proto == "RTP/SAVP" and len(m.crypto) == 1 and m.crypto[0].tag == 1
    assert c.protection.profile is None  # nothing keyed before the 200 is sent
    c.start_answered(5.0)
    assert c.protection.profile == "AES_CM_128_HMAC_SHA1_80"
    # what the peer protects with its key, we unprotect
    peer = SrtpContext("AES_CM_128_HMAC_SHA1_80", theirs.key, sdes.parse_crypto(m.crypto[0]).key)
    plain = RtpPacket(0, 1, 160, 0x77, b"\xff" * 160).serialize()
    assert c.protection.unprotect("audio", bytes(peer.protect(plain)), False) == plain


@pytest.mark.parametrize(("setup", "ours"), [("actpass", "active"), ("active", "passive")])
def test_dtls_offer_is_answered_with_our_fingerprint_and_role(setup: str, ours: str) -> None:
    peer_cert = Certificate.generate("peer")
    offer = (
        peer_sdp(video_port=None)
        .replace(b"RTP/AVP 0", b"UDP/TLS/RTP/SAVPF 0")
        .replace(
            b"a=sendrecv",
            f"a=sendrecv\r\na=fingerprint:sha-256 {peer_cert.fingerprint}\r\n"
            f"a=setup:{setup}".encode(),
        )
    )
    mine = Certificate.generate("wcs")
    c = _incoming(dtls=DtlsSrtp("c1", mine))
    answer = c.answer_first_offer(offer)
    assert answer is not None
    m = sdp.SessionDescription.parse(answer.decode()).media[0]
    assert m.proto == "UDP/TLS/RTP/SAVPF" and m.setup == ours
    assert [f.value for f in m.fingerprints] == [mine.fingerprint]
    c.start_answered(5.0)
    assert c.protection.pending == {"audio"}  # nothing in clear until the handshake
    hello = [d for d, _ in c.datagrams_to_send(5.0) if d[:1] == b"\x16"]
    assert bool(hello) is (ours == "active")  # the client sends its ClientHello at once


def test_dtls_offer_without_fingerprint_is_refused() -> None:
    offer = peer_sdp(video_port=None).replace(b"RTP/AVP 0", b"UDP/TLS/RTP/SAVP 0")
    c = _incoming(dtls=DtlsSrtp("c1", Certificate.generate("wcs")))
    assert c.answer_first_offer(offer) is None
