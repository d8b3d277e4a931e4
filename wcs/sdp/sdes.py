"""RFC 4568 SDES: the crypto suites we know, fresh keys, strict ``inline:`` key parsing.

Keys are bytes (master key then master salt, as libsrtp takes them). They never reach a
``repr`` or a log: :class:`SdesKey` hides its key, and :func:`mask_keys` blanks every
``inline:`` key of an SDP text before it is logged.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass, field

from .errors import SdpError
from .model import Crypto

# suite -> (master key bytes, master salt bytes) (RFC 4568 §6.2, RFC 7714 §12)
SUITES: dict[str, tuple[int, int]] = {
    "AES_CM_128_HMAC_SHA1_80": (16, 14),
    "AES_CM_128_HMAC_SHA1_32": (16, 14),
    "AEAD_AES_128_GCM": (16, 12),
    "AEAD_AES_256_GCM": (32, 12),
}
DEFAULT_SUITES = tuple(SUITES)  # our offer's order of preference
SECURE_PROTOS = {"RTP/AVP": "RTP/SAVP", "RTP/AVPF": "RTP/SAVPF"}


class SdesError(SdpError):
    """An ``a=crypto`` line we cannot use; the message says why and never holds the key."""


@dataclass(frozen=True, slots=True)
class SdesKey:
    """One side's key for one m-line: the suite, and master key + salt (hidden in repr)."""

    suite: str
    key: bytes = field(repr=False)


_INLINE = re.compile(r"(inline:)[^\s|]+")
_LIFETIME = re.compile(r"(2\^\d{1,2}|\d{1,20})")


def is_secure(proto: str) -> bool:
    """``RTP/SAVP``, ``RTP/SAVPF`` (and the DTLS profiles): the m-line wants SRTP."""
    return "SAVP" in proto.upper()


def new_key(suite: str) -> SdesKey:
    """A fresh key for ``suite`` from the operating system's CSPRNG."""
    key_len, salt_len = SUITES[suite]
    return SdesKey(suite, secrets.token_bytes(key_len + salt_len))


def crypto_line(tag: int, key: SdesKey) -> Crypto:
    return Crypto(tag, key.suite, "inline:" + base64.b64encode(key.key).decode())


def parse_crypto(crypto: Crypto, allowed: tuple[str, ...] = DEFAULT_SUITES) -> SdesKey:
    """The key of an ``a=crypto`` line, checked strictly; :class:`SdesError` says why not.

    One ``inline:`` key with an optional lifetime, no MKI, no session parameters: that is
    what every SDES peer sends, and anything else we could only half honour.
    """
    suite = crypto.suite
    if suite not in SUITES:
        raise SdesError(f"unknown crypto suite {suite[:40]!r} (tag {crypto.tag})")
    if suite not in allowed:
        raise SdesError(f"crypto suite {suite} is not allowed (tag {crypto.tag})")
    if crypto.session_params:
        raise SdesError(f"unsupported SDES session parameters (tag {crypto.tag})")
    params = crypto.key_params
    if ";" in params:
        raise SdesError(f"more than one key is not supported (tag {crypto.tag})")
    if not params.startswith("inline:"):
        raise SdesError(f"malformed key: key method is not inline (tag {crypto.tag})")
    parts = params[len("inline:") :].split("|")
    if len(parts) > 3:
        raise SdesError(f"malformed key: too many key parameters (tag {crypto.tag})")
    rest = parts[1:]
    if rest and ":" not in rest[0]:
        if not _LIFETIME.fullmatch(rest[0]):
            raise SdesError(f"malformed key: bad lifetime (tag {crypto.tag})")
        rest = rest[1:]
    if rest:
        mki = rest[0].split(":")
        if len(mki) != 2 or not all(x.isdigit() for x in mki) or int(mki[0]) != 0:
            raise SdesError(f"MKI is not supported (tag {crypto.tag})")
    try:
        key = base64.b64decode(parts[0], validate=True)
    except (binascii.Error, ValueError):
        raise SdesError(f"malformed key: not base64 (tag {crypto.tag})") from None
    key_len, salt_len = SUITES[suite]
    if len(key) != key_len + salt_len:
        raise SdesError(
            f"wrong key length for {suite}: {len(key)} bytes, want {key_len + salt_len} "
            f"(tag {crypto.tag})"
        )
    return SdesKey(suite, key)


def mask_keys(text: str) -> str:
    """``text`` with every SDES ``inline:`` key replaced by asterisks (for logs)."""
    return _INLINE.sub(r"\1********", text)
