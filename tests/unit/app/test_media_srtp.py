"""SDES-SRTP of a call's media without sockets: keys in the offer, the peer's key from the
answer and from re-offers, the sip_srtp policy, and the protection layer the edge applies.
The peer side is a second SRTP context built from the keys on the wire."""

from __future__ import annotations

import base64

import pytest

from wcs import sdp
from wcs.app.media import CallMediaCore, MediaFailed
from wcs.app.media.sdes import SdesKeying
from wcs.rtp.packet import RtpPacket
from wcs.rtp.srtp import SrtpContext
from wcs.sdp.sdes import SUITES, new_key

PEER = "10.0.0.1"
PORTS = {"audio": 30000}


def core(policy: str, suites: tuple[str, ...] = tuple(SUITES)) -> CallMediaCore:
    return CallMediaCore("c1", "10.0.0.2", ports=PORTS, keying=SdesKeying("c1", policy, suites))


def peer_sdp(crypto: str | None, proto: str = "RTP/SAVP", version: int = 1) -> bytes:
    lines = [
        "v=0", f"o=peer 1 {version} IN IP4 {PEER}", "s=-", f"c=IN IP4 {PEER}", "t=0 0",
        f"m=audio 40000 {proto} 0", "a=rtpmap:0 PCMU/8000", "a=sendrecv",
    ]  # fmt: skip
    if crypto is not None:
        lines.append(f"a=crypto:{crypto}")
    return ("\r\n".join(lines) + "\r\n").encode()


def offered(c: CallMediaCore) -> sdp.SessionDescription:
    return sdp.SessionDescription.parse(c.offer().decode())


def inline(key: bytes) -> str:
    return "inline:" + base64.b64encode(key).decode()


def established(suite: str = "AES_CM_128_HMAC_SHA1_80") -> tuple[CallMediaCore, SrtpContext]:
    """A mandatory call whose peer answered ``suite``; the peer's own SRTP context."""
    c = core("mandatory")
    offer = offered(c)
    ours = next(x for x in offer.media[0].crypto if x.suite == suite)
    their_key = new_key(suite)
    c.on_remote_sdp(peer_sdp(f"{ours.tag} {suite} {inline(their_key.key)}"), True, 0.0)
    our_key = base64.b64decode(ours.key_params.removeprefix("inline:"))
    return c, SrtpContext(suite, their_key.key, our_key)


def rtp(seq: int) -> bytes:
    return RtpPacket(payload_type=0, sequence=seq, timestamp=seq * 160, ssrc=7,
                     payload=b"\xff" * 160).serialize()  # fmt: skip


def test_mandatory_offer_is_savp_with_a_key_per_suite() -> None:
    c = core("mandatory")
    m = offered(c).media[0]
    assert m.proto == "RTP/SAVP"
    assert [x.suite for x in m.crypto] == list(SUITES)
    assert [x.tag for x in m.crypto] == [1, 2, 3, 4]
    # A fresh offer in the same dialog keeps the keys.
    assert [x.key_params for x in offered(c).media[0].crypto] == [x.key_params for x in m.crypto]


def test_optional_offer_is_avp_with_keys_and_off_is_plain() -> None:
    m = offered(core("optional")).media[0]
    assert m.proto == "RTP/AVP" and len(m.crypto) == 4
    plain = offered(core("off")).media[0]
    assert plain.proto == "RTP/AVP" and not plain.crypto


@pytest.mark.parametrize("suite", list(SUITES))
def test_both_directions_are_protected_with_the_answered_suite(suite: str) -> None:
    c, peer = established(suite)
    assert c.protection.profile == suite
    # Peer -> us: unprotected at the edge, then plain RTP for the core.
    wire = bytes(peer.protect(rtp(1)))
    assert wire[12:172] != b"\xff" * 160
    assert c.protection.unprotect("audio", wire, False) == rtp(1)
    # Us -> peer: what the core sends (init packets, silence) protects and the peer opens it.
    out = c.datagrams_to_send(0.0)
    assert out
    for data, route in out:
        secured = c.protection.protect("audio", data, route.rtcp_port)
        assert secured is not None and secured != data
        opened = peer.unprotect_rtcp(secured) if route.rtcp_port else peer.unprotect(secured)
        assert bytes(opened) == data


def test_srtcp_is_protected_too() -> None:
    c, peer = established()
    c.handle_timer(10.0)  # an RTCP report is due
    reports = [d for d, r in c.datagrams_to_send(10.0) if r.rtcp_port]
    assert reports
    secured = c.protection.protect("audio", reports[0], True)
    assert secured is not None
    assert bytes(peer.unprotect_rtcp(secured)) == reports[0]
    srtcp = bytes(peer.protect_rtcp(reports[0]))
    assert c.protection.unprotect("audio", srtcp, True) == reports[0]


def test_auth_failures_are_counted_and_dropped_and_the_call_goes_on() -> None:
    c, peer = established()
    good = bytes(peer.protect(rtp(1)))
    forged = good[:-1] + bytes([good[-1] ^ 1])
    assert c.protection.unprotect("audio", forged, False) is None
    assert c.protection.unprotect("audio", b"\x80" + bytes(30), False) is None
    assert c.protection.unprotect("audio", good, False) == rtp(1)
    assert c.protection.unprotect("audio", good, False) is None  # a replay
    assert c.protection.auth_failures["audio"] == 3
    c.receive_rtp("audio", rtp(2), (PEER, 40000), 1.0)
    assert c.stats(1.0)["audio"]["srtp"] == {
        "suite": "AES_CM_128_HMAC_SHA1_80",
        "authFailures": 3,
    }


def test_mandatory_plain_answer_fails_the_call_with_488_and_sends_nothing() -> None:
    c = core("mandatory")
    c.offer()
    c.on_remote_sdp(peer_sdp(None, "RTP/AVP"), True, 0.0)
    event = c.next_event()
    assert isinstance(event, MediaFailed)
    assert event.info.startswith("488 Not Acceptable Here: SRTP is mandatory")
    assert not c.sessions and c.datagrams_to_send(0.0) == []


def test_optional_plain_answer_is_plain_rtp() -> None:
    c = core("optional")
    c.offer()
    c.on_remote_sdp(peer_sdp(None, "RTP/AVP"), True, 0.0)
    assert c.next_event() is None
    assert c.protection.profile is None and c.sessions
    data, _route = c.datagrams_to_send(0.0)[0]
    assert c.protection.protect("audio", data, False) == data


@pytest.mark.parametrize(
    ("crypto", "reason"),
    [
        ("1 AES_CM_128_HMAC_SHA1_80 inline:@@@@", "malformed key"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(20)).decode(),
         "wrong key length"),
        ("1 NULL_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(30)).decode(), "changed the suite"),
        ("9 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(30)).decode(),
         "never offered"),
    ],
)  # fmt: skip
def test_bad_crypto_in_the_answer_fails_the_call_with_the_reason(crypto: str, reason: str) -> None:
    c = core("optional")
    c.offer()
    c.on_remote_sdp(peer_sdp(crypto), True, 0.0)
    event = c.next_event()
    assert isinstance(event, MediaFailed) and reason in event.info, event
    assert not c.sessions


def test_reoffer_with_the_same_key_keeps_the_context_a_new_key_gets_new_keys() -> None:
    c, _peer = established()
    context = c.protection.contexts["audio"]
    offer = offered_line = c.negotiation.remote
    assert offer is not None
    offered_line = offer.media[0].crypto[0]
    same = peer_sdp(f"1 {offered_line.suite} {offered_line.key_params}", version=2)
    answer, hold = c.answer_remote_offer(same, 1.0)
    assert answer is not None and not hold
    assert c.protection.contexts["audio"] is context
    first = sdp.SessionDescription.parse(answer.decode()).media[0].crypto[0]
    # The peer changes its key (and suite): new contexts, and a new key of ours.
    their = new_key("AEAD_AES_128_GCM")
    changed = peer_sdp(f"5 AEAD_AES_128_GCM {inline(their.key)}", version=3)
    answer2, _ = c.answer_remote_offer(changed, 2.0)
    assert answer2 is not None
    second = sdp.SessionDescription.parse(answer2.decode()).media[0]
    assert second.proto == "RTP/SAVP"
    assert [(x.tag, x.suite) for x in second.crypto] == [(5, "AEAD_AES_128_GCM")]
    assert second.crypto[0].key_params != first.key_params
    assert c.protection.contexts["audio"] is not context
    assert c.protection.profile == "AEAD_AES_128_GCM"


def test_reoffer_picks_our_preferred_usable_suite() -> None:
    c, _peer = established()
    k32, kgcm = new_key("AES_CM_128_HMAC_SHA1_32"), new_key("AEAD_AES_256_GCM")
    body = peer_sdp(None, version=2).decode() + "".join(
        f"a=crypto:{line}\r\n"
        for line in (
            "1 AES_CM_256_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(46)).decode(),
            f"2 AEAD_AES_256_GCM {inline(kgcm.key)}",
            f"3 AES_CM_128_HMAC_SHA1_32 {inline(k32.key)}",
        )
    )
    answer, _ = c.answer_remote_offer(body.encode(), 1.0)
    assert answer is not None
    chosen = sdp.SessionDescription.parse(answer.decode()).media[0].crypto
    assert [(x.tag, x.suite) for x in chosen] == [(3, "AES_CM_128_HMAC_SHA1_32")]


@pytest.mark.parametrize(
    ("policy", "body"),
    [
        ("mandatory", peer_sdp(None, "RTP/AVP", version=2)),
        ("optional", peer_sdp(None, "RTP/SAVP", version=2)),
        ("optional", peer_sdp("1 AES_CM_128_HMAC_SHA1_80 inline:short", version=2)),
        ("optional", peer_sdp("1 BOGUS_SUITE inline:" + base64.b64encode(bytes(30)).decode(),
                              version=2)),
    ],
)  # fmt: skip
def test_reoffers_we_cannot_key_get_488_and_the_session_stays(policy: str, body: bytes) -> None:
    c = core(policy)
    offer = offered(c)
    key = new_key("AES_CM_128_HMAC_SHA1_80")
    c.on_remote_sdp(peer_sdp(f"1 AES_CM_128_HMAC_SHA1_80 {inline(key.key)}"), True, 0.0)
    assert offer.media[0].crypto and c.protection.profile is not None
    context = c.protection.contexts["audio"]
    assert c.answer_remote_offer(body, 1.0) == (None, False)
    assert c.protection.contexts["audio"] is context


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="sip_srtp"):
        SdesKeying("c1", "sometimes")
