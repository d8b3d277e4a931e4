"""Digest authentication, client side (RFC 2617, RFC 7616, RFC 8760 for SIP).

A UAC that gets a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate) picks one challenge
with :func:`choose_challenge` and answers it with :meth:`DigestCredentials.authorization`,
whose result is the value of the Authorization resp. Proxy-Authorization header.

Pure functions and one small stateful class (the nonce counter); no I/O.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "AuthError",
    "Challenge",
    "DigestCredentials",
    "choose_challenge",
    "parse_challenge",
    "split_auth_header",
]


class AuthError(ValueError):
    """A challenge cannot be parsed or answered; the message says why."""


# Normalised (upper-case) name -> (hash function name, spelling on the wire per the IANA
# "HTTP Digest Hash Algorithms" registry, preference rank: lower is stronger).
_ALGORITHMS: dict[str, tuple[str, str, int]] = {
    "SHA-256": ("sha256", "SHA-256", 0),
    "SHA-256-SESS": ("sha256", "SHA-256-sess", 0),
    "MD5": ("md5", "MD5", 1),
    "MD5-SESS": ("md5", "MD5-sess", 1),
}
_SUPPORTED_QOP = ("auth", "auth-int")


@dataclass(frozen=True, slots=True)
class Challenge:
    """One Digest challenge, as offered by a registrar or proxy."""

    realm: str
    nonce: str
    algorithm: str  # normalised upper-case: "MD5", "MD5-SESS", "SHA-256", "SHA-256-SESS"
    qop: tuple[str, ...]  # e.g. ("auth",) or ("auth", "auth-int"); () if absent
    opaque: str | None
    stale: bool


# --- header parsing -------------------------------------------------------------------------

# RFC 7230 token characters.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 7235 token68 (used by other schemes such as Negotiate), only when it ends the challenge.
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*(?=[ \t\r\n]*(?:,|$))")
# Unquoted parameter values: real servers send nonces with '/' or '=' unquoted, so be lenient.
_BARE_VALUE = re.compile(r'[^\s,"]+')
_WS = re.compile(r"[ \t\r\n]*")
_WS_COMMAS = re.compile(r"[ \t\r\n,]*")


def _read_quoted(value: str, pos: int) -> tuple[str, int]:
    """Read a quoted-string starting at the opening quote; returns (text, end position)."""
    out: list[str] = []
    i = pos + 1
    n = len(value)
    while i < n:
        ch = value[i]
        if ch == "\\":
            if i + 1 >= n:
                break
            out.append(value[i + 1])  # quoted-pair: the next character stands for itself
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise AuthError(f"unterminated quoted string starting at offset {pos}")


def _split_challenges(value: str) -> list[tuple[str, dict[str, str]]]:
    """Split a header value into (scheme, params) pairs; param names are lower-cased.

    A header may hold several comma-separated challenges; a new one starts where a token is
    not followed by '='.
    """
    challenges: list[tuple[str, dict[str, str]]] = []
    params: dict[str, str] | None = None
    pos = 0
    n = len(value)
    while True:
        pos = _WS_COMMAS.match(value, pos).end()  # type: ignore[union-attr]
        if pos >= n:
            break
        m = _TOKEN.match(value, pos)
        if m is None:
            raise AuthError(f"unexpected character {value[pos]!r} at offset {pos}")
        name = m.group()
        pos = _WS.match(value, m.end()).end()  # type: ignore[union-attr]
        if pos < n and value[pos] == "=":
            if params is None:
                raise AuthError("parameter before any authentication scheme")
            pos = _WS.match(value, pos + 1).end()  # type: ignore[union-attr]
            if pos < n and value[pos] == '"':
                text, pos = _read_quoted(value, pos)
            else:
                v = _BARE_VALUE.match(value, pos)
                if v is None:
                    raise AuthError(f"parameter {name!r} has no value")
                text, pos = v.group(), v.end()
            key = name.lower()
            if key in params:
                raise AuthError(f"parameter {key!r} given twice")
            params[key] = text
            pos = _WS.match(value, pos).end()  # type: ignore[union-attr]
            if pos < n and value[pos] != ",":
                raise AuthError(f"expected ',' after parameter {key!r} at offset {pos}")
        else:
            # A new challenge: its scheme, then perhaps a token68 blob (other schemes).
            params = {}
            challenges.append((name, params))
            t68 = _TOKEN68.match(value, pos)
            if t68 is not None:
                pos = t68.end()
    return challenges


def _challenge_from_params(params: dict[str, str]) -> Challenge:
    realm = params.get("realm")
    if realm is None:
        raise AuthError("Digest challenge without realm")
    nonce = params.get("nonce")
    if nonce is None:
        raise AuthError("Digest challenge without nonce")
    algorithm = params.get("algorithm", "MD5").strip().upper()
    if algorithm not in _ALGORITHMS:
        raise AuthError(f"unsupported digest algorithm {params['algorithm']!r}")
    qop: tuple[str, ...] = ()
    if "qop" in params:
        qop = tuple(q.strip().lower() for q in params["qop"].split(",") if q.strip())
        if not any(q in _SUPPORTED_QOP for q in qop):
            raise AuthError(f"no supported qop in {params['qop']!r}")
    return Challenge(
        realm=realm,
        nonce=nonce,
        algorithm=algorithm,
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").strip().lower() == "true",
    )


def parse_challenge(value: str) -> Challenge:
    """Parse the value of one WWW-Authenticate / Proxy-Authenticate header (one challenge)."""
    challenges = _split_challenges(value)
    if not challenges:
        raise AuthError("empty challenge")
    if len(challenges) > 1:
        raise AuthError("several challenges in one header value; use choose_challenge")
    scheme, params = challenges[0]
    if scheme.lower() != "digest":
        raise AuthError(f"unsupported authentication scheme {scheme!r}")
    return _challenge_from_params(params)


_DIGEST_REQUIRED = ("username", "realm", "nonce", "uri", "response")


def check_credentials(value: str) -> None:
    """Raise AuthError unless ``value`` is a well-formed (Proxy-)Authorization value: one
    scheme with its parameters; Digest ones with every field RFC 2617 §3.2.2 requires."""
    found = _split_challenges(value)
    if len(found) != 1:
        raise AuthError("one set of credentials per header value")
    scheme, params = found[0]
    if scheme.lower() == "digest":
        missing = [name for name in _DIGEST_REQUIRED if not params.get(name)]
        if missing:
            raise AuthError(f"Digest credentials without {', '.join(missing)}")


def choose_challenge(values: list[str]) -> Challenge:
    """Pick the challenge to answer among several header values.

    RFC 8760 §2.4: use the topmost challenge with the most preferred algorithm we support
    (SHA-256 before MD5); challenges we cannot answer are skipped.
    """
    usable: list[Challenge] = []
    reasons: list[str] = []
    for value in values:
        try:
            found = _split_challenges(value)
        except AuthError as exc:
            reasons.append(str(exc))
            continue
        for scheme, params in found:
            if scheme.lower() != "digest":
                reasons.append(f"scheme {scheme!r} not supported")
                continue
            try:
                usable.append(_challenge_from_params(params))
            except AuthError as exc:
                reasons.append(str(exc))
    if not usable:
        detail = "; ".join(reasons) if reasons else "no challenge given"
        raise AuthError(f"no usable Digest challenge ({detail})")
    # min() keeps the first of equal rank, i.e. the topmost one.
    return min(usable, key=lambda c: _ALGORITHMS[c.algorithm][2])


# --- answering ------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _default_cnonce() -> str:
    return secrets.token_hex(8)


# How many nonces to remember counters for: a UAC talks to a registrar and an outbound proxy
# at once, each with its own nonce; old ones are dropped so the map cannot grow unbounded.
_MAX_NONCES = 32


class DigestCredentials:
    """A username and password that answer Digest challenges.

    Keeps the nonce count per (realm, nonce) so repeated requests under the same nonce
    send nc=00000001, 00000002, ... The password is never shown by repr() or str().
    """

    __slots__ = ("_cnonce_factory", "_nonce_counts", "_password", "username")

    def __init__(
        self,
        username: str,
        password: str,
        *,
        cnonce_factory: Callable[[], str] = _default_cnonce,
    ) -> None:
        self.username = username
        self._password = password
        self._cnonce_factory = cnonce_factory
        self._nonce_counts: dict[tuple[str, str], int] = {}

    def __repr__(self) -> str:
        return f"DigestCredentials(username={self.username!r}, password=<hidden>)"

    __str__ = __repr__

    def _next_nc(self, challenge: Challenge) -> int:
        key = (challenge.realm, challenge.nonce)
        count = self._nonce_counts.pop(key, 0) + 1
        self._nonce_counts[key] = count  # re-inserted: the dict order is least recent first
        while len(self._nonce_counts) > _MAX_NONCES:
            del self._nonce_counts[next(iter(self._nonce_counts))]
        return count

    def authorization(self, challenge: Challenge, method: str, uri: str, body: bytes = b"") -> str:
        """The Authorization / Proxy-Authorization header value answering ``challenge``.

        qop "auth" is preferred; "auth-int" (which covers the body) is used only when it is
        the only one offered; without qop the RFC 2069 compatible response is computed.
        """
        try:
            hash_name, wire_name, _rank = _ALGORITHMS[challenge.algorithm]
        except KeyError:
            raise AuthError(f"unsupported digest algorithm {challenge.algorithm!r}") from None

        def h(data: str | bytes) -> str:
            raw = data.encode("utf-8") if isinstance(data, str) else data
            return hashlib.new(hash_name, raw).hexdigest()

        if "auth" in challenge.qop:
            qop: str | None = "auth"
        elif "auth-int" in challenge.qop:
            qop = "auth-int"
        elif challenge.qop:
            raise AuthError(f"no supported qop in {challenge.qop!r}")
        else:
            qop = None

        sess = challenge.algorithm.endswith("-SESS")
        # A cnonce is needed with qop and for the -sess variants (which hash it into A1).
        cnonce = self._cnonce_factory() if (qop is not None or sess) else None

        ha1 = h(f"{self.username}:{challenge.realm}:{self._password}")
        if sess:
            ha1 = h(f"{ha1}:{challenge.nonce}:{cnonce}")
        a2 = f"{method}:{uri}"
        if qop == "auth-int":
            a2 += ":" + h(body)
        ha2 = h(a2)

        nc_text = ""
        if qop is not None:
            nc_text = f"{self._next_nc(challenge):08x}"
            response = h(f"{ha1}:{challenge.nonce}:{nc_text}:{cnonce}:{qop}:{ha2}")
        else:
            response = h(f"{ha1}:{challenge.nonce}:{ha2}")

        parts = [
            f"username={_quote(self.username)}",
            f"realm={_quote(challenge.realm)}",
            f"nonce={_quote(challenge.nonce)}",
            f"uri={_quote(uri)}",
            f"response={_quote(response)}",
            f"algorithm={wire_name}",
        ]
        if cnonce is not None:
            parts.append(f"cnonce={_quote(cnonce)}")
        if challenge.opaque is not None:
            parts.append(f"opaque={_quote(challenge.opaque)}")
        if qop is not None:
            parts.append(f"qop={qop}")
            parts.append(f"nc={nc_text}")
        return "Digest " + ", ".join(parts)


def split_auth_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """(scheme, params) of a WWW-Authenticate/Authorization value (servers parse answers)."""
    return _split_challenges(value)
