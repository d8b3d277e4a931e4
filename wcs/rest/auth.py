"""The ``rest_auth`` check shared by REST and WebSocket listeners.

``""`` is off, ``token:SECRET`` accepts ``Authorization: Bearer SECRET``, ``X-Auth-Token:
SECRET`` or ``?token=SECRET`` (browsers cannot set headers on a WebSocket), and
``basic:USER:PASSWORD`` is HTTP Basic. Comparisons are constant-time; the secret is never
put in a repr, a log line or a response.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

from wcs.rest.message import Headers

TOKEN_QUERY = "token"


class Authenticator:
    __slots__ = ("_kind", "_password", "_secret", "_user")

    def __init__(self, spec: str) -> None:
        self._kind = ""
        self._secret = b""
        self._user = b""
        self._password = b""
        if not spec:
            return
        kind, _, rest = spec.partition(":")
        if kind == "token" and rest:
            self._kind = "token"
            self._secret = rest.encode()
        elif kind == "basic" and ":" in rest:
            user, _, password = rest.partition(":")
            self._kind = "basic"
            self._user = user.encode()
            self._password = password.encode()
        else:
            # Never echo the spec: it is the secret.
            raise ValueError("rest_auth must be '', 'token:SECRET' or 'basic:USER:PASSWORD'")

    @property
    def enabled(self) -> bool:
        return bool(self._kind)

    @property
    def challenge(self) -> str:
        """The WWW-Authenticate value for a 401."""
        if self._kind == "basic":
            return 'Basic realm="wcs", charset="UTF-8"'
        return 'Bearer realm="wcs"'

    @property
    def uses_query_token(self) -> bool:
        return self._kind == "token"

    def check(self, headers: Headers, query: Mapping[str, str]) -> bool:
        if not self._kind:
            return True
        if self._kind == "token":
            return self._check_token(headers, query)
        return self._check_basic(headers.get("authorization"))

    def _check_token(self, headers: Headers, query: Mapping[str, str]) -> bool:
        # Header values were decoded as latin-1 (raw bytes back), the query as UTF-8.
        candidates: list[bytes] = []
        auth = headers.get("authorization")
        if auth is not None:
            scheme, _, value = auth.strip().partition(" ")
            if scheme.lower() == "bearer":
                candidates.append(value.strip().encode("latin-1", "replace"))
        value_h = headers.get("x-auth-token")
        if value_h is not None:
            candidates.append(value_h.strip().encode("latin-1", "replace"))
        value_q = query.get(TOKEN_QUERY)
        if value_q is not None:
            candidates.append(value_q.encode())
        ok = False
        for candidate in candidates:
            # Check every candidate so timing does not tell which one matched.
            ok |= hmac.compare_digest(candidate, self._secret)
        return ok

    def _check_basic(self, auth: str | None) -> bool:
        if auth is None:
            return False
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        if not sep:
            return False
        user_ok = hmac.compare_digest(user, self._user)
        password_ok = hmac.compare_digest(password, self._password)
        return user_ok and password_ok

    def __repr__(self) -> str:
        return f"Authenticator({self._kind or 'off'})"
