"""Digest authentication: RFC worked examples, a real Kamailio exchange, parsing edge cases."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from wcs.pcap import read_pcap
from wcs.sip.auth import (
    AuthError,
    Challenge,
    DigestCredentials,
    choose_challenge,
    parse_challenge,
)

TRACES = Path(__file__).resolve().parents[3] / "conformance" / "traces"

# RFC 7616 §3.9.1 (the same exchange answered with SHA-256 and with MD5).
RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def _params(header_value: str) -> dict[str, str]:
    """Authorization parameters as a dict (quotes stripped), for assertions."""
    assert header_value.startswith("Digest ")
    out: dict[str, str] = {}
    for m in re.finditer(r'(\w+)=("((?:[^"\\]|\\.)*)"|[^,\s]+)', header_value[7:]):
        out[m.group(1)] = m.group(3) if m.group(3) is not None else m.group(2)
    return out


def _fixed(value: str) -> DigestCredentials:
    return DigestCredentials("Mufasa", "Circle of Life", cnonce_factory=lambda: value)


@pytest.mark.parametrize(
    ("alg", "expected"),
    [
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ],
)
def test_rfc7616_example(alg: str, expected: str) -> None:
    challenge = parse_challenge(RFC7616_CHALLENGE.replace("{alg}", alg))
    assert challenge.algorithm == alg
    assert challenge.qop == ("auth", "auth-int")
    value = _fixed(RFC7616_CNONCE).authorization(challenge, "GET", "/dir/index.html")
    p = _params(value)
    assert p["response"] == expected
    assert p["qop"] == "auth"  # "auth" preferred over "auth-int"
    assert p["nc"] == "00000001"
    assert p["cnonce"] == RFC7616_CNONCE
    assert p["opaque"] == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
    assert p["algorithm"] == alg
    assert p["username"] == "Mufasa"
    assert p["uri"] == "/dir/index.html"


def test_rfc2617_example() -> None:
    challenge = parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert challenge.algorithm == "MD5"  # the default when absent
    creds = DigestCredentials("Mufasa", "Circle Of Life", cnonce_factory=lambda: "0a4f113b")
    p = _params(creds.authorization(challenge, "GET", "/dir/index.html"))
    assert p["response"] == "6629fae49393a05397450978507c4ef1"


def _sip_header(payload: bytes, name: str) -> str:
    for line in payload.decode("utf-8").split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    raise AssertionError(f"no {name} header")


def test_real_kamailio_register_exchange() -> None:
    """Recompute baresip's answer to Kamailio's 401 from 01-register.pcap."""
    frames = {p.index: p.payload for p in read_pcap(TRACES / "01-register.pcap")}
    assert frames[2].startswith(b"SIP/2.0 401 ")
    challenge = parse_challenge(_sip_header(frames[2], "WWW-Authenticate"))
    assert challenge.realm == "sip.test"
    assert challenge.qop == ("auth",)
    assert challenge.algorithm == "MD5"
    assert challenge.opaque is None and challenge.stale is False

    captured = _params(_sip_header(frames[3], "Authorization"))
    request_line = frames[3].split(b"\r\n", 1)[0].decode()
    method, uri, _ = request_line.split(" ")
    assert (method, uri) == ("REGISTER", captured["uri"])
    assert captured["nc"] == "00000001"  # our counter starts there too

    creds = DigestCredentials("1002", "secret1002", cnonce_factory=lambda: captured["cnonce"])
    ours = _params(creds.authorization(challenge, method, uri))
    assert ours["response"] == captured["response"]
    for key in ("username", "realm", "nonce", "uri", "cnonce", "qop", "nc"):
        assert ours[key] == captured[key], key


def test_real_wrong_password_differs() -> None:
    """Frames 6-7: user 1099 answered with the password 'secret1099', which the proxy
    refuses (403). We reproduce that captured response exactly, and another password
    gives a different one."""
    frames = {p.index: p.payload for p in read_pcap(TRACES / "01-register.pcap")}
    challenge = parse_challenge(_sip_header(frames[6], "WWW-Authenticate"))
    captured = _params(_sip_header(frames[7], "Authorization"))
    creds = DigestCredentials("1099", "secret1099", cnonce_factory=lambda: captured["cnonce"])
    ours = _params(creds.authorization(challenge, "REGISTER", captured["uri"]))
    assert ours["response"] == captured["response"]
    other = DigestCredentials("1099", "another", cnonce_factory=lambda: captured["cnonce"])
    assert (
        _params(other.authorization(challenge, "REGISTER", captured["uri"]))["response"]
        != captured["response"]
    )


def test_nonce_count_increments_and_restarts() -> None:
    creds = DigestCredentials("u", "p")
    a = parse_challenge('Digest realm="r", nonce="n1", qop="auth"')
    b = parse_challenge('Digest realm="r", nonce="n2", qop="auth"')
    assert [_params(creds.authorization(a, "INVITE", "sip:x@y"))["nc"] for _ in range(3)] == [
        "00000001",
        "00000002",
        "00000003",
    ]
    assert _params(creds.authorization(b, "INVITE", "sip:x@y"))["nc"] == "00000001"
    assert _params(creds.authorization(a, "INVITE", "sip:x@y"))["nc"] == "00000004"


def test_nc_is_hex() -> None:
    creds = DigestCredentials("u", "p")
    c = parse_challenge('Digest realm="r", nonce="n", qop="auth"')
    ncs = [_params(creds.authorization(c, "REGISTER", "sip:r"))["nc"] for _ in range(16)]
    assert ncs[9] == "0000000a" and ncs[15] == "00000010"


def test_cnonce_is_random_by_default() -> None:
    creds = DigestCredentials("u", "p")
    c = parse_challenge('Digest realm="r", nonce="n", qop=auth')
    cnonces = {_params(creds.authorization(c, "REGISTER", "sip:r"))["cnonce"] for _ in range(5)}
    assert len(cnonces) == 5
    assert all(len(x) >= 16 for x in cnonces)


def test_auth_int_when_only_offered_hashes_body() -> None:
    c = parse_challenge('Digest realm="r", nonce="n", qop="auth-int"')
    creds = DigestCredentials("u", "p", cnonce_factory=lambda: "cn")
    body = b"v=0\r\n"
    p = _params(creds.authorization(c, "INVITE", "sip:b@r", body))
    assert p["qop"] == "auth-int"
    ha1 = hashlib.md5(b"u:r:p").hexdigest()
    ha2 = hashlib.md5(b"INVITE:sip:b@r:" + hashlib.md5(body).hexdigest().encode()).hexdigest()
    expected = hashlib.md5(f"{ha1}:n:00000001:cn:auth-int:{ha2}".encode()).hexdigest()
    assert p["response"] == expected
    # A different body gives a different response.
    creds2 = DigestCredentials("u", "p", cnonce_factory=lambda: "cn")
    assert _params(creds2.authorization(c, "INVITE", "sip:b@r", b"x"))["response"] != expected


def test_no_qop_rfc2069() -> None:
    c = parse_challenge('Digest realm="r", nonce="n"')
    value = DigestCredentials("u", "p").authorization(c, "BYE", "sip:b@r")
    p = _params(value)
    ha1 = hashlib.md5(b"u:r:p").hexdigest()
    ha2 = hashlib.md5(b"BYE:sip:b@r").hexdigest()
    assert p["response"] == hashlib.md5(f"{ha1}:n:{ha2}".encode()).hexdigest()
    assert "qop" not in p and "nc" not in p and "cnonce" not in p and "opaque" not in p


def test_sha256_sess() -> None:
    c = parse_challenge('Digest realm="r", nonce="n", qop="auth", algorithm=sha-256-sess')
    assert c.algorithm == "SHA-256-SESS"
    p = _params(
        DigestCredentials("u", "p", cnonce_factory=lambda: "c").authorization(
            c, "REGISTER", "sip:r"
        )
    )

    def h(s: str) -> str:
        return hashlib.sha256(s.encode()).hexdigest()

    ha1 = h(f"{h('u:r:p')}:n:c")
    assert p["response"] == h(f"{ha1}:n:00000001:c:auth:{h('REGISTER:sip:r')}")
    assert p["algorithm"] == "SHA-256-sess"


def test_header_layout_and_escaping() -> None:
    c = parse_challenge('Digest realm="a \\"b\\" c", nonce="n", opaque="o", qop="auth"')
    assert c.realm == 'a "b" c'
    value = DigestCredentials('we"ird\\', "p", cnonce_factory=lambda: "cc").authorization(
        c, "REGISTER", "sip:r"
    )
    assert value.startswith('Digest username="we\\"ird\\\\", realm="a \\"b\\" c", nonce="n", ')
    assert re.search(
        r'uri="sip:r", response="[0-9a-f]{32}", algorithm=MD5, cnonce="cc", opaque="o", '
        r"qop=auth, nc=00000001$",
        value,
    )
    # The header we produce is itself parseable by a parser of the same grammar.
    assert _params(value)["username"] == 'we\\"ird\\\\'


def test_stale_parsing() -> None:
    assert parse_challenge('Digest realm="r", nonce="n", stale=TRUE').stale is True
    assert parse_challenge('Digest realm="r", nonce="n", stale="true"').stale is True
    assert parse_challenge('Digest realm="r", nonce="n", stale=false').stale is False
    assert parse_challenge('Digest realm="r", nonce="n"').stale is False


def test_lenient_syntax() -> None:
    c = parse_challenge(
        '  digest   REALM = "sip.test" ,,  Nonce=abc/def+=  ,QOP="auth , AUTH-INT",'
        '  Algorithm=md5-Sess , unknown=whatever , opaque=""  '
    )
    assert c == Challenge(
        realm="sip.test",
        nonce="abc/def+=",
        algorithm="MD5-SESS",
        qop=("auth", "auth-int"),
        opaque="",
        stale=False,
    )
    folded = parse_challenge('Digest realm="r",\r\n\tnonce="n"')
    assert folded.nonce == "n"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('Basic realm="r"', "scheme"),
        ('Digest nonce="n"', "realm"),
        ('Digest realm="r"', "nonce"),
        ('Digest realm="r", nonce="n", algorithm=SHA-512-256', "algorithm"),
        ('Digest realm="r", nonce="n", algorithm=AKAv1-MD5', "algorithm"),
        ('Digest realm="r", nonce="n', "unterminated"),
        ('Digest realm="r", realm="s", nonce="n"', "twice"),
        ('Digest realm="r" nonce="n"', "expected ','"),
        ('realm="r", nonce="n"', "before any"),
        ("", "empty"),
        ("   ,  ", "empty"),
        ('Digest realm="r", nonce="n", qop="auth-conf"', "qop"),
        ('Digest realm="r", nonce="n", Digest realm="s", nonce="m"', "several"),
        ('Digest @realm="r", nonce="n"', "unexpected character"),
        ('Digest realm="r", nonce=', "no value"),
    ],
)
def test_parse_errors(value: str, message: str) -> None:
    with pytest.raises(AuthError, match=message):
        parse_challenge(value)


def test_choose_prefers_sha256_and_skips_unusable() -> None:
    values = [
        'Digest realm="r", nonce="md5", qop="auth"',
        'Digest realm="r", nonce="bad", algorithm=SHA-512-256',
        'Digest realm="r", nonce="sha1", algorithm=SHA-256, qop="auth"',
        'Digest realm="r", nonce="sha2", algorithm=SHA-256, qop="auth"',
    ]
    assert choose_challenge(values).nonce == "sha1"  # strongest, then topmost
    assert choose_challenge(values[:2]).nonce == "md5"
    # Several challenges in one header value, mixed with another scheme.
    combined = (
        'Negotiate abc==, Digest realm="r", nonce="m", Digest realm="r", nonce="s", '
        "algorithm=SHA-256"
    )
    assert choose_challenge([combined]).nonce == "s"


def test_choose_none_usable() -> None:
    with pytest.raises(AuthError, match="no usable"):
        choose_challenge(['Basic realm="r"', 'Digest realm="r", nonce="n", algorithm=X'])
    with pytest.raises(AuthError, match="no usable"):
        choose_challenge([])
    with pytest.raises(AuthError, match="no usable"):
        choose_challenge(['Digest realm="r'])


def test_password_never_in_repr() -> None:
    creds = DigestCredentials("alice", "s3cr3t-pw")
    assert "s3cr3t-pw" not in repr(creds)
    assert "s3cr3t-pw" not in str(creds)
    assert "s3cr3t-pw" not in f"{creds}"
    assert "alice" in repr(creds)
    assert not hasattr(creds, "__dict__")  # no vars() dump either
    # The produced header does not carry the password in clear.
    c = parse_challenge('Digest realm="r", nonce="n", qop=auth')
    assert "s3cr3t-pw" not in creds.authorization(c, "REGISTER", "sip:r")


def test_authorization_rejects_unknown_algorithm() -> None:
    bogus = Challenge(realm="r", nonce="n", algorithm="SHA-1", qop=(), opaque=None, stale=False)
    with pytest.raises(AuthError, match="algorithm"):
        DigestCredentials("u", "p").authorization(bogus, "REGISTER", "sip:r")


@pytest.mark.parametrize("trace", ["02-call-av.pcap", "03-call-busy.pcap"])
def test_real_kamailio_proxy_challenge(trace: str) -> None:
    """407 Proxy-Authenticate → Proxy-Authorization for an INVITE (user 1001)."""
    frames = {p.index: p.payload for p in read_pcap(TRACES / trace)}
    assert frames[2].startswith(b"SIP/2.0 407 ")
    challenge = choose_challenge([_sip_header(frames[2], "Proxy-Authenticate")])
    captured = _params(_sip_header(frames[4], "Proxy-Authorization"))
    assert frames[4].startswith(b"INVITE " + captured["uri"].encode() + b" ")
    creds = DigestCredentials("1001", "secret1001", cnonce_factory=lambda: captured["cnonce"])
    ours = _params(creds.authorization(challenge, "INVITE", captured["uri"]))
    assert ours["response"] == captured["response"]
