from __future__ import annotations

import os
import struct

import pylibsrtp
import pytest

from wcs.rtp.rtcp import Pli, SenderReport
from wcs.rtp.srtp import SrtpContext
from wcs.webrtc import demux


def rtp(seq: int, payload: bytes = b"x" * 100, ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, ssrc) + payload


@pytest.mark.parametrize(
    "profile,size", [("SRTP_AES128_CM_SHA1_80", 30), ("SRTP_AEAD_AES_128_GCM", 28)]
)
def test_round_trip(profile: str, size: int) -> None:
    a_key, b_key = os.urandom(size), os.urandom(size)
    a = SrtpContext(profile, a_key, b_key)
    b = SrtpContext(profile, b_key, a_key)
    packet = rtp(1)
    protected = a.protect(packet)
    assert protected != packet and len(protected) > len(packet)
    assert b.unprotect(protected) == packet
    sr = SenderReport(0x1234, 1 << 40, 1, 2, 3).serialize()
    assert b.unprotect_rtcp(a.protect_rtcp(sr)) == sr
    pli = Pli(1, 2).serialize()
    assert a.unprotect_rtcp(b.protect_rtcp(pli)) == pli


def test_retransmission_with_same_sequence_is_allowed() -> None:
    key = os.urandom(30)
    a = SrtpContext("SRTP_AES128_CM_SHA1_80", key, key)
    packet = rtp(7)
    assert a.protect(packet) == a.protect(packet)


def test_wrong_key_fails() -> None:
    a = SrtpContext("SRTP_AES128_CM_SHA1_80", os.urandom(30), os.urandom(30))
    b = SrtpContext("SRTP_AES128_CM_SHA1_80", os.urandom(30), os.urandom(30))
    with pytest.raises(pylibsrtp.Error):
        b.unprotect_rtcp(a.protect_rtcp(Pli(1, 2).serialize()))


def test_unknown_profile() -> None:
    with pytest.raises(ValueError):
        SrtpContext("SRTP_NULL", b"", b"")


def test_demux_rfc7983() -> None:
    assert demux.classify(b"\x00\x01") == demux.STUN
    assert demux.classify(b"\x03") == demux.STUN
    assert demux.classify(b"\x16\xfe\xfd") == demux.DTLS
    assert demux.classify(b"\x3f") == demux.DTLS
    assert demux.classify(rtp(1)) == demux.RTP
    assert demux.classify(b"\xbf") == demux.RTP
    assert demux.classify(b"\x40") == demux.OTHER
    assert demux.classify(b"\xc0") == demux.OTHER
    assert demux.classify(b"") == demux.OTHER
    assert demux.is_rtcp(Pli(1, 2).serialize())
    assert demux.is_rtcp(SenderReport(1).serialize())
    assert not demux.is_rtcp(rtp(1))
    assert not demux.is_rtcp(struct.pack("!BB", 0x80, 0x80 | 96))  # marker + PT 96
