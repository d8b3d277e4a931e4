"""RFC 4568 key parsing: strict, with reasons that never hold the key."""

from __future__ import annotations

import base64

import pytest

from wcs import sdp
from wcs.sdp.sdes import (
    SUITES,
    SdesError,
    crypto_line,
    mask_keys,
    new_key,
    parse_crypto,
)

KEY30 = base64.b64encode(bytes(range(30))).decode()


@pytest.mark.parametrize("suite", list(SUITES))
def test_round_trip_of_a_fresh_key(suite: str) -> None:
    key = new_key(suite)
    assert len(key.key) == sum(SUITES[suite])
    line = crypto_line(3, key)
    parsed = sdp.SessionDescription.parse(
        f"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"
        f"m=audio 4000 RTP/SAVP 0\r\na=crypto:{line}\r\n"
    )
    assert parse_crypto(parsed.media[0].crypto[0]) == key
    assert key.key.hex() not in repr(key) and "inline" not in repr(parsed.media[0].crypto[0])


def test_fresh_keys_differ() -> None:
    assert new_key("AES_CM_128_HMAC_SHA1_80") != new_key("AES_CM_128_HMAC_SHA1_80")


def test_lifetime_and_zero_mki_are_accepted() -> None:
    for params in (f"inline:{KEY30}|2^31", f"inline:{KEY30}|2^20|1:4".replace("1:4", "0:4")):
        assert len(parse_crypto(sdp.Crypto(1, "AES_CM_128_HMAC_SHA1_80", params)).key) == 30


@pytest.mark.parametrize(
    ("suite", "params", "session", "reason"),
    [
        ("AES_CM_256_HMAC_SHA1_80", f"inline:{KEY30}", "", "unknown crypto suite"),
        ("F8_128_HMAC_SHA1_80", f"inline:{KEY30}", "", "unknown crypto suite"),
        ("AES_CM_128_HMAC_SHA1_80", "inline:!!notbase64!!", "", "malformed key: not base64"),
        ("AES_CM_128_HMAC_SHA1_80", f"inline:{KEY30[:-8]}", "", "wrong key length"),
        ("AEAD_AES_256_GCM", f"inline:{KEY30}", "", "wrong key length"),
        ("AES_CM_128_HMAC_SHA1_80", f"uri:{KEY30}", "", "not inline"),
        ("AES_CM_128_HMAC_SHA1_80", f"inline:{KEY30}|2^x", "", "bad lifetime"),
        ("AES_CM_128_HMAC_SHA1_80", f"inline:{KEY30}|1:4", "", "MKI is not supported"),
        ("AES_CM_128_HMAC_SHA1_80", f"inline:{KEY30};inline:{KEY30}", "", "more than one key"),
        ("AES_CM_128_HMAC_SHA1_80", f"inline:{KEY30}", "UNENCRYPTED_SRTP", "session param"),
    ],
)
def test_bad_crypto_lines_are_refused_with_a_reason(
    suite: str, params: str, session: str, reason: str
) -> None:
    with pytest.raises(SdesError) as info:
        parse_crypto(sdp.Crypto(1, suite, params, session))
    assert reason in str(info.value)
    assert KEY30[:20] not in str(info.value)


def test_a_suite_we_do_not_allow_is_refused() -> None:
    line = sdp.Crypto(1, "AES_CM_128_HMAC_SHA1_32", f"inline:{KEY30}")
    with pytest.raises(SdesError, match="not allowed"):
        parse_crypto(line, ("AES_CM_128_HMAC_SHA1_80",))


def test_malformed_crypto_attribute_error_holds_no_key() -> None:
    with pytest.raises(sdp.SdpError) as info:
        sdp.SessionDescription.parse(
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n"
            f"m=audio 4000 RTP/SAVP 0\r\na=crypto:1 inline:{KEY30}\r\n"
        )
    assert KEY30[:20] not in str(info.value)


def test_mask_keys_hides_every_inline_key() -> None:
    text = f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^31\r\na=crypto:2 X inline:{KEY30}"
    masked = mask_keys(text)
    assert KEY30 not in masked and masked.count("inline:********") == 2
    assert "|2^31" in masked


def test_sip_debug_text_masks_keys() -> None:
    from wcs.sip.message import SipRequest, masked

    req = SipRequest("INVITE", "sip:1002@sip.test")
    req.body = f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}\r\n".encode()
    assert KEY30 not in masked(req)
