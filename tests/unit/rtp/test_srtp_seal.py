"""The in-place sealer protects exactly as pylibsrtp's Session.protect does."""

from __future__ import annotations

import os
import struct

import pytest
from pylibsrtp import Policy, Session

from wcs.rtp import srtp_seal
from wcs.rtp.srtp import SrtpContext

PROFILES = {"SRTP_AES128_CM_SHA1_80": 30, "SRTP_AEAD_AES_128_GCM": 28}


def packets(count: int, size: int) -> list[bytes]:
    payload = os.urandom(size)
    return [
        struct.pack("!BBHII", 0x80, 96, 100 + i, 3000 * i, 0x1234) + payload for i in range(count)
    ]


def twin(profile: str) -> tuple[SrtpContext, SrtpContext, bytes, bytes]:
    local, remote = os.urandom(PROFILES[profile]), os.urandom(PROFILES[profile])
    return SrtpContext(profile, local, remote), SrtpContext(profile, local, remote), local, remote


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("size", [0, 160, 1200, 1344])  # 1356: pylibsrtp's own limit
def test_sealed_bytes_equal_session_protect(profile: str, size: int) -> None:
    a, b, local, _ = twin(profile)
    assert a.sealer.direct  # the binding this project pins is there
    receiver = SrtpContext(profile, os.urandom(PROFILES[profile]), local)
    for p in packets(5, size):
        a.sealer.buffer[: len(p)] = p
        sealed = bytes(a.sealer.seal(len(p)))
        assert sealed == b.protect(p)
        assert receiver.unprotect(sealed) == p


@pytest.mark.parametrize(
    ("profile", "tag"), [("SRTP_AES128_CM_SHA1_80", 10), ("SRTP_AEAD_AES_128_GCM", 16)]
)
def test_a_full_mtu_packet_is_sealed(profile: str, tag: int) -> None:
    a, _, _, _ = twin(profile)
    (p,) = packets(1, srtp_seal.MAX_RTP - 12)
    a.sealer.buffer[: len(p)] = p
    assert len(a.sealer.seal(len(p))) == srtp_seal.MAX_RTP + tag


def test_copying_fallback_seals_the_same() -> None:
    key = os.urandom(30)

    def session() -> Session:
        policy = Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                        srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80)  # fmt: skip
        return Session(policy)

    direct, fallback = srtp_seal.sealer(session()), srtp_seal._copying(session())
    assert direct.direct and not fallback.direct
    for p in packets(3, 300):
        direct.buffer[: len(p)] = p
        fallback.buffer[: len(p)] = p
        assert bytes(direct.seal(len(p))) == bytes(fallback.seal(len(p)))


def test_plain_sealer_returns_the_packet() -> None:
    s = srtp_seal.plain()
    s.buffer[:5] = b"hello"
    assert s.seal(5) == b"hello"


def test_the_view_is_reused_by_the_next_seal() -> None:
    # The contract callers rely on (send at once): each seal overwrites the same buffer.
    a, _, _, _ = twin("SRTP_AEAD_AES_128_GCM")
    first, second = packets(2, 50)
    a.sealer.buffer[: len(first)] = first
    view = a.sealer.seal(len(first))
    kept = bytes(view)
    a.sealer.buffer[: len(second)] = second
    a.sealer.seal(len(second))
    assert bytes(view) != kept
