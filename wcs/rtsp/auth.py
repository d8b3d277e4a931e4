"""RTSP server authentication hooks: Basic and Digest (RFC 2617 as RTSP players do it).

:class:`RtspAuth` is what the connection core asks: the challenges for a 401 and whether
a request's ``Authorization`` passes. :class:`PasswordAuth` checks one user/password (the
``rest_auth`` ``basic:USER:PASSWORD`` setting) by Basic or by Digest; its Digest challenge
has no ``qop`` (live555/VLC do not do ``qop``), a ``qop=auth`` answer is verified too.
Nonces are stateless: a timestamp and an HMAC of it under a per-process key, valid for
``nonce_lifetime`` seconds, so nothing grows per client. Comparisons are constant-time; the
password never appears in a repr.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Protocol

from wcs.sip.auth import AuthError, split_auth_header


class RtspAuth(Protocol):
    def challenges(self, now: float) -> list[str]: ...

    def check(self, method: str, authorization: str | None, now: float) -> bool: ...


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # Digest MD5: what RTSP players speak


class PasswordAuth:
    __slots__ = ("_key", "_password", "_user", "nonce_lifetime", "realm")

    def __init__(
        self,
        user: str,
        password: str,
        realm: str = "wcs",
        nonce_lifetime: float = 300.0,
        key: bytes | None = None,
    ) -> None:
        self._user = user
        self._password = password
        self.realm = realm
        self.nonce_lifetime = nonce_lifetime
        self._key = key if key is not None else secrets.token_bytes(32)

    def __repr__(self) -> str:
        return f"PasswordAuth(realm={self.realm!r})"

    def _nonce(self, now: float) -> str:
        stamp = f"{int(now * 1000):x}"
        mac = hmac.new(self._key, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        return f"{stamp}.{mac}"

    def _nonce_ok(self, nonce: str, now: float) -> bool:
        stamp, _, mac = nonce.partition(".")
        try:
            issued = int(stamp, 16) / 1000
        except ValueError:
            return False
        good = hmac.new(self._key, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        return hmac.compare_digest(mac, good) and 0 <= now - issued <= self.nonce_lifetime

    def challenges(self, now: float) -> list[str]:
        return [
            f'Digest realm="{self.realm}", nonce="{self._nonce(now)}", algorithm=MD5',
            f'Basic realm="{self.realm}"',
        ]

    def check(self, method: str, authorization: str | None, now: float) -> bool:
        if authorization is None:
            return False
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "basic":
            return self._basic(value.strip())
        if scheme.lower() == "digest":
            return self._digest(method, authorization, now)
        return False

    def _basic(self, value: str) -> bool:
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        user_ok = hmac.compare_digest(user, self._user.encode())
        password_ok = hmac.compare_digest(password, self._password.encode())
        return bool(sep) and user_ok and password_ok

    def _digest(self, method: str, authorization: str, now: float) -> bool:
        try:
            parsed = split_auth_header(authorization)
        except AuthError:
            return False
        if len(parsed) != 1:
            return False
        p = parsed[0][1]
        username, nonce, uri, response = (
            p.get(k) for k in ("username", "nonce", "uri", "response")
        )
        if username is None or nonce is None or uri is None or response is None:
            return False
        if p.get("realm") != self.realm or p.get("algorithm", "MD5").upper() != "MD5":
            return False
        if not self._nonce_ok(nonce, now):
            return False
        ha1 = _md5(f"{self._user}:{self.realm}:{self._password}")
        ha2 = _md5(f"{method}:{uri}")
        qop = p.get("qop")
        if qop is None:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        elif qop == "auth" and "nc" in p and "cnonce" in p:
            expected = _md5(f"{ha1}:{nonce}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
        else:
            return False
        user_ok = hmac.compare_digest(username.encode(), self._user.encode())
        return hmac.compare_digest(response.lower().encode(), expected.encode()) and user_ok
