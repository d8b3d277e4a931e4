"""Digest authentication, server side: the challenge we send (401 WWW-Authenticate) and the
check of the Authorization that answers it (RFC 7616 / RFC 8760: MD5 and SHA-256, qop auth).

Nonces are stateless: a timestamp and an HMAC of it under a per-process key, valid for
``NONCE_LIFETIME`` seconds, so a flood of INVITEs grows no table. A reused nonce within its
lifetime is accepted (no nonce-count tracking): the trunk is also meant to be behind an
address allow-list.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .auth import AuthError, split_auth_header

NONCE_LIFETIME = 300.0
ALGORITHMS = {"MD5": "md5", "SHA-256": "sha256"}

_KEY = secrets.token_bytes(32)


def make_nonce(now: float) -> str:
    stamp = f"{int(now):x}"
    mac = hmac.new(_KEY, stamp.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{stamp}.{mac}"


def nonce_fresh(nonce: str, now: float) -> bool:
    stamp, _, mac = nonce.partition(".")
    want = hmac.new(_KEY, stamp.encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(mac, want):
        return False
    try:
        issued = int(stamp, 16)
    except ValueError:
        return False
    return 0 <= now - issued <= NONCE_LIFETIME


def challenges(realm: str, algorithms: tuple[str, ...], now: float) -> list[str]:
    """The WWW-Authenticate values of a 401, in the order given (RFC 8760 §2.4: the
    preferred first; some clients take the first whether they support it or not)."""
    nonce = make_nonce(now)
    return [
        f'Digest realm="{realm}", nonce="{nonce}", algorithm={alg}, qop="auth"'
        for alg in algorithms
    ]


def verify(
    authorization: str | None,
    *,
    method: str,
    username: str,
    password: str,
    realm: str,
    algorithms: tuple[str, ...],
    now: float,
) -> bool:
    """Whether ``authorization`` proves the password for ``username`` under a fresh nonce."""
    if not authorization:
        return False
    try:
        parts = split_auth_header(authorization)
    except AuthError:
        return False
    if len(parts) != 1 or parts[0][0].lower() != "digest":
        return False
    p = parts[0][1]
    alg = (p.get("algorithm") or "MD5").upper()
    name = {a.upper(): a for a in algorithms}.get(alg)
    if name is None or name not in ALGORITHMS:
        return False
    if p.get("username") != username or p.get("realm") != realm:
        return False
    nonce, uri = p.get("nonce", ""), p.get("uri", "")
    if not nonce_fresh(nonce, now):
        return False

    def h(text: str) -> str:
        return hashlib.new(ALGORITHMS[name], text.encode()).hexdigest()

    ha1 = h(f"{username}:{realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    if p.get("qop") == "auth":
        expected = h(f"{ha1}:{nonce}:{p.get('nc', '')}:{p.get('cnonce', '')}:auth:{ha2}")
    elif "qop" in p:
        return False
    else:
        expected = h(f"{ha1}:{nonce}:{ha2}")
    return hmac.compare_digest(expected, p.get("response", ""))
