"""Incoming calls, the pure parts: who may call (policy, digest), the stream name, the
registrations' lifecycle and backoff, the config tables and their REST-shaped validation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from wcs.app.errors import RequestError
from wcs.app.inbound import Dispatch, InboundPolicy, Offer, Refuse, Route, Trunk, networks
from wcs.app.registrations import AccountRegistration, AccountRegistrations, RegStatus
from wcs.config import ConfigError, load_settings
from wcs.rest.errors import BadRequest
from wcs.rest.sip_api import parse_trunk
from wcs.sip import digest_server
from wcs.sip.account import Account
from wcs.sip.auth import DigestCredentials, parse_challenge
from wcs.sip.events import RegistrationFailed, RegistrationSucceeded

NOW = 1_000_000.0
ACC = Account(login="1003", domain="sip.test", password="pw")


def offer(source: str = "192.0.2.7", callee: str = "1003", auth: str | None = None) -> Offer:
    return Offer("1001", callee, "sip.test", source, auth)


def policy(trunks: list[Trunk], regs: dict[str, Any] | None = None) -> InboundPolicy:
    table = regs or {}
    return InboundPolicy(trunks, table.get, lambda: bool(table))


def test_nothing_configured_refuses_403() -> None:
    assert policy([]).decide(offer(), NOW) == Refuse(403, "Forbidden")


def test_registered_login_routes_and_unknown_user_is_404() -> None:
    p = policy([], {"1003": (ACC, Dispatch(answer="ring"))})
    route = p.decide(offer(), NOW)
    assert isinstance(route, Route) and route.dispatch.answer == "ring" and route.account == ACC
    assert p.decide(offer(callee="1004"), NOW) == Refuse(404, "Not Found")


def test_trunk_allow_list_and_numbers() -> None:
    trunk = Trunk("pbx", allowed=networks(["10.0.0.0/8", "2001:db8::1"]), numbers=("100",))
    p = policy([trunk])
    assert isinstance(p.decide(offer("10.1.2.3", "100"), NOW), Route)
    assert isinstance(p.decide(offer("2001:db8::1", "100"), NOW), Route)
    assert p.decide(offer("10.1.2.3", "101"), NOW) == Refuse(404, "Not Found")
    assert p.decide(offer("192.0.2.7", "100"), NOW).status == 403  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="not an address"):
        networks(["10.0.0.0/33"])


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_trunk_digest_challenge_and_check(algorithm: str) -> None:
    trunk = Trunk("t", username="alice", password="s3cret", realm="wcs", algorithms=(algorithm,))
    p = policy([trunk])
    refusal = p.decide(offer(), NOW)
    assert isinstance(refusal, Refuse) and refusal.status == 401
    ((name, value),) = refusal.headers
    challenge = parse_challenge(value)
    assert name == "WWW-Authenticate" and challenge.algorithm == algorithm
    answer = DigestCredentials("alice", "s3cret").authorization(
        challenge, "INVITE", "sip:1003@192.0.2.1"
    )
    assert isinstance(p.decide(offer(auth=answer), NOW + 1), Route)
    wrong = DigestCredentials("alice", "nope").authorization(challenge, "INVITE", "sip:x@y")
    assert isinstance(p.decide(offer(auth=wrong), NOW + 1), Refuse)
    # a nonce past its lifetime is refused: a fresh challenge follows
    late = NOW + digest_server.NONCE_LIFETIME + 5
    assert isinstance(p.decide(offer(auth=answer), late), Refuse)


def test_digest_verify_rejects_forged_nonces_and_other_users() -> None:
    ok = dict(method="INVITE", username="a", password="p", realm="r", algorithms=("MD5",), now=NOW)
    forged = 'Digest username="a", realm="r", nonce="0.00", uri="sip:x", response="00"'
    assert not digest_server.verify(forged, **ok)  # type: ignore[arg-type]
    assert not digest_server.verify(None, **ok)  # type: ignore[arg-type]
    assert not digest_server.verify("Basic YTpw", **ok)  # type: ignore[arg-type]


def test_stream_name_template() -> None:
    d = Dispatch()
    assert d.stream_name("1001", "1003", "in-x") == "1003-1001"
    t = Dispatch(to_stream="door/{caller}-{callId}-{date}")
    assert t.stream_name("1001", "1003", "in-x", now=0) == "door_1001-in-x-19700101-000000"


class FakeUa:
    def __init__(self) -> None:
        self.registered: list[tuple[Account, int | None]] = []
        self.unregistered: list[str] = []

    def register(self, account: Account, now: float, expires: int | None = None) -> str:
        self.registered.append((account, expires))
        return f"reg-{len(self.registered)}"

    def unregister(self, reg_id: str, now: float) -> None:
        self.unregistered.append(reg_id)


@pytest.mark.asyncio
async def test_registration_lifecycle_backoff_and_loss() -> None:
    ua = FakeUa()
    regs = AccountRegistrations(ua, lambda: None, lambda: 0.0, retry=0.05, retry_max=0.1,
                                retry_after_loss=0.01)  # type: ignore[arg-type]  # fmt: skip
    reg = regs.add(AccountRegistration("r1", ACC, expires=60))
    assert reg.status == RegStatus.REGISTERING and ua.registered == [(ACC, 60)]
    regs.on_sip_event(RegistrationSucceeded("reg-1", 60))
    assert reg.status == RegStatus.REGISTERED and reg.next_refresh is not None
    assert "pw" not in str(reg.to_json())
    assert regs.by_login("1003") == (ACC, reg.dispatch)
    # the refresh fails (the registrar lost us): registering again soon
    regs.on_sip_event(RegistrationFailed("reg-1", 404, "Not Found", "Not Found"))
    assert reg.status == RegStatus.FAILED and reg.sip_status == 404
    await asyncio.sleep(0.05)
    assert len(ua.registered) == 2 and reg.status == RegStatus.REGISTERING
    # failures before any success back off: 0.05 s, then 0.1 s (the maximum)
    regs.on_sip_event(RegistrationFailed("reg-2", 403, "Forbidden", "Authentication failed"))
    assert reg.info == "Authentication failed"
    await asyncio.sleep(0.02)
    assert len(ua.registered) == 2  # not yet
    await asyncio.sleep(0.06)
    assert len(ua.registered) == 3
    regs.on_sip_event(RegistrationFailed("reg-3", 403, "Forbidden", "Authentication failed"))
    assert reg.failures == 2 and reg.next_retry is not None
    assert regs.remove("r1") and ua.unregistered == []  # nothing registered: nothing sent
    await asyncio.sleep(0.15)
    assert len(ua.registered) == 3  # the retry died with the registration
    regs.add(AccountRegistration("r2", ACC))
    with pytest.raises(RequestError, match="registration exists"):
        regs.add(AccountRegistration("r2", Account(login="1004", domain="sip.test")))
    with pytest.raises(RequestError, match="already registered"):
        regs.add(AccountRegistration("r3", ACC))


def test_config_tables_from_toml_and_environment(tmp_path: Path) -> None:
    f = tmp_path / "wcs.toml"
    f.write_text(
        "sip_port = 5070\n"
        '[[sip_registration]]\nsipLogin = "1003"\nsipPassword = "pw"\n'
        'sipDomain = "sip.test"\ntoStream = "door-{caller}"\n'
        '[[sip_trunk]]\nname = "pbx"\nallow = ["10.0.0.0/8"]\npassword = "tp"\npin = "42"\n'
    )
    s = load_settings(f, env={})
    assert s.sip_registration[0]["toStream"] == "door-{caller}"
    assert s.sip_trunk[0]["allow"] == ["10.0.0.0/8"]
    masked = s.masked()
    assert masked["sip_registration"][0]["sipPassword"] == "********"
    assert masked["sip_trunk"][0]["password"] == "********"
    assert masked["sip_trunk"][0]["pin"] == "********"  # a PIN is a secret too
    env = load_settings(env={"WCS_SIP_TRUNK": '[{"name": "x", "allow": ["127.0.0.1"]}]'})
    assert env.sip_trunk == ({"name": "x", "allow": ["127.0.0.1"]},)
    with pytest.raises(ConfigError, match="sip_trunk"):
        load_settings(env={"WCS_SIP_TRUNK": "{not json"})
    with pytest.raises(ConfigError, match="array of tables"):
        load_settings(env={"WCS_SIP_TRUNK": '{"name": "x"}'})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x"}, "allow"),
        ({"name": "x", "allow": ["nope"]}, "allow"),
        ({"name": "x", "username": "u", "algorithms": ["SHA-512"]}, "algorithms"),
        ({"name": "x", "allow": ["10.0.0.1"], "answer": "later"}, "answer"),
        ({"name": "x", "allow": ["10.0.0.1"], "pin": "12#"}, "pin"),  # '#' ends the PIN
        ({"name": "x", "allow": ["10.0.0.1"], "pin": "1" * 17}, "pin"),
        ({"name": "x", "allow": ["10.0.0.1"], "pin": "1", "pinTimeout": 0}, "pinTimeout"),
    ],
)
def test_trunk_body_refusals(body: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_trunk(body)
    assert info.value.field == field


def test_trunk_body() -> None:
    t = parse_trunk({"name": "x", "allow": ["10.0.0.1"], "answer": "ring", "record": "true"})
    assert t.dispatch.answer == "ring" and t.dispatch.record and t.algorithms == ("SHA-256", "MD5")


def test_pin_in_a_registration_is_kept_and_never_shown() -> None:
    t = parse_trunk({"name": "x", "allow": ["10.0.0.1"], "pin": "12a*", "pinTimeout": 5})
    assert (t.dispatch.pin, t.dispatch.pin_timeout) == ("12A*", 5.0)
    assert "12A" not in repr(t.dispatch)
    assert parse_trunk({"name": "x", "allow": ["10.0.0.1"]}).dispatch.pin_timeout is None
    reg = AccountRegistration("r1", ACC, t.dispatch)
    shown = reg.to_json()
    assert shown["pinRequired"] is True and "pin" not in shown
    assert "12A" not in str(shown)
