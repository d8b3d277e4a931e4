"""Basic and Digest authentication of RTSP requests, through the connection core."""

from __future__ import annotations

import base64
import hashlib

from wcs.rtsp import PasswordAuth
from wcs.sip.auth import split_auth_header

from .helpers import URL, ask, make, request


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest(challenge: str, method: str, uri: str, password: str = "pw", qop: bool = False) -> str:
    params = split_auth_header(challenge)[0][1]
    realm, nonce = params["realm"], params["nonce"]
    ha1, ha2 = md5(f"viewer:{realm}:{password}"), md5(f"{method}:{uri}")
    if qop:
        response = md5(f"{ha1}:{nonce}:00000001:abc:auth:{ha2}")
        extra = ', qop=auth, nc=00000001, cnonce="abc"'
    else:
        response = md5(f"{ha1}:{nonce}:{ha2}")
        extra = ""
    return (
        f'Authorization: Digest username="viewer", realm="{realm}", nonce="{nonce}", '
        f'uri="{uri}", response="{response}"{extra}'
    )


def auth() -> PasswordAuth:
    return PasswordAuth("viewer", "pw", key=b"k" * 32)


def challenge_of(now: float = 100.0) -> str:
    conn = make(auth=auth())
    conn.receive_data(request("DESCRIBE", URL, 1), now)
    lines = conn.data_to_send(now).decode().split("\r\n")
    assert lines[0].startswith("RTSP/1.0 401")
    prefix = "WWW-Authenticate: Digest "
    return next(line for line in lines if line.startswith(prefix))[len("WWW-Authenticate: ") :]


def test_options_needs_no_auth_and_describe_is_challenged() -> None:
    conn = make(auth=auth())
    assert ask(conn, request("OPTIONS", URL, 1)).status == 200
    conn.receive_data(request("DESCRIBE", URL, 2), 100.0)
    raw = conn.data_to_send(100.0).decode()
    assert "RTSP/1.0 401" in raw
    assert 'WWW-Authenticate: Digest realm="wcs"' in raw
    assert 'WWW-Authenticate: Basic realm="wcs"' in raw
    assert "pw" not in raw and "pw" not in repr(auth())


def test_basic() -> None:
    conn = make(auth=auth())
    good = base64.b64encode(b"viewer:pw").decode()
    bad = base64.b64encode(b"viewer:nope").decode()
    assert ask(conn, request("DESCRIBE", URL, 1, f"Authorization: Basic {good}")).status == 200
    assert ask(conn, request("DESCRIBE", URL, 2, f"Authorization: Basic {bad}")).status == 401
    assert ask(conn, request("DESCRIBE", URL, 3, "Authorization: Basic !!")).status == 401


def test_digest_without_and_with_qop() -> None:
    conn = make(auth=auth())
    chal = challenge_of(100.0)
    assert (
        ask(conn, request("DESCRIBE", URL, 1, digest(chal, "DESCRIBE", URL)), 101.0).status == 200
    )
    header = digest(chal, "DESCRIBE", URL, qop=True)
    assert ask(conn, request("DESCRIBE", URL, 2, header), 101.0).status == 200


def test_digest_refusals() -> None:
    conn = make(auth=auth())
    chal = challenge_of(100.0)
    wrong_pw = digest(chal, "DESCRIBE", URL, password="nope")
    assert ask(conn, request("DESCRIBE", URL, 1, wrong_pw), 101.0).status == 401
    wrong_method = digest(chal, "PLAY", URL)  # answer computed for another method
    assert ask(conn, request("DESCRIBE", URL, 2, wrong_method), 101.0).status == 401
    stale = digest(chal, "DESCRIBE", URL)
    assert ask(conn, request("DESCRIBE", URL, 3, stale), 100.0 + 301).status == 401
    forged = chal.replace('nonce="', 'nonce="1')
    assert (
        ask(conn, request("DESCRIBE", URL, 4, digest(forged, "DESCRIBE", URL)), 101).status == 401
    )
    other_key = PasswordAuth("viewer", "pw", key=b"x" * 32).challenges(100.0)[0]
    header = digest(other_key, "DESCRIBE", URL)
    assert ask(conn, request("DESCRIBE", URL, 5, header), 101.0).status == 401
    assert ask(conn, request("DESCRIBE", URL, 6, 'Authorization: Digest x="'), 101).status == 401


def test_unauthenticated_requests_learn_nothing_about_sessions() -> None:
    conn = make(auth=auth())
    assert ask(conn, request("PLAY", URL, 1, "Session: guess")).status == 401
