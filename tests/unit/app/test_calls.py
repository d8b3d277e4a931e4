"""CallManager: SIP events → WCS statuses, registry, hooks, ownership (fake UA, no sockets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from wcs.app.call import Call, CallRequest, CallStatus
from wcs.app.calls import CallManager
from wcs.app.errors import RequestError
from wcs.rest.views import call_json
from wcs.sip import events as ev
from wcs.sip.call import CallInfo
from wcs.sip.errors import SipParseError
from wcs.sip.ua import Account


@dataclass
class FakeUA:
    actions: list[tuple[Any, ...]] = field(default_factory=list)
    regs: int = 0
    live: dict[str, str] = field(default_factory=dict)  # ref -> SIP state
    invite_error: Exception | None = None

    def register(self, account: Account, now: float) -> str:
        self.regs += 1
        self.actions.append(("register", account.login))
        return f"reg{self.regs}"

    def unregister(self, reg_id: str, now: float) -> None:
        self.actions.append(("unregister", reg_id))

    def invite(self, ref: str, account: Account, callee: str, sdp: bytes, now: float) -> None:
        if self.invite_error is not None:
            raise self.invite_error
        self.actions.append(("invite", ref, callee, sdp))
        self.live[ref] = "calling"

    def call_info(self, ref: str) -> CallInfo | None:
        state = self.live.get(ref)
        return None if state is None else CallInfo(ref, "tag", None, None, None, state)

    def hangup(self, ref: str, now: float, reason: str = "") -> None:
        self.actions.append(("hangup", ref))

    def answer_offer(self, ref: str, sdp: bytes | None, now: float) -> None:
        self.actions.append(("answer_offer", ref, sdp))

    def send_info(self, ref: str, content_type: str, body: bytes, now: float) -> None:
        self.actions.append(("info", ref, content_type))

    def shutdown(self, now: float) -> None:
        self.actions.append(("shutdown",))


@dataclass
class FakeMedia:
    closed: str | None = None
    remote: list[tuple[bytes, bool]] = field(default_factory=list)
    hold_answer: bool = False

    def offer(self) -> bytes:
        return b"v=0 offer"

    def on_remote_sdp(self, sdp: bytes, final: bool) -> None:
        self.remote.append((sdp, final))

    def answer_remote_offer(self, sdp: bytes | None) -> tuple[bytes | None, bool]:
        return b"v=0 answer", self.hold_answer

    def close(self, reason: str) -> None:
        self.closed = reason


@dataclass
class FakeHooks:
    posted: list[tuple[str | None, str, dict[str, Any]]] = field(default_factory=list)

    def post(self, app_key: str | None, method: str, body: dict[str, Any]) -> None:
        self.posted.append((app_key, method, body))


class Env:
    def __init__(self, media_error: Exception | None = None) -> None:
        self.ua = FakeUA()
        self.hooks = FakeHooks()
        self.media: dict[str, FakeMedia] = {}
        self.wakes = 0

        def factory(call: Call) -> FakeMedia:
            if media_error is not None:
                raise media_error
            m = FakeMedia()
            self.media[call.call_id] = m
            return m

        def wake() -> None:
            self.wakes += 1

        self.calls = CallManager(self.ua, wake, self.hooks, factory, clock=lambda: 1.0)  # type: ignore[arg-type]

    def statuses(self, call_id: str) -> list[str]:
        return [b["status"] for _, m, b in self.hooks.posted if b["callId"] == call_id]


def request(call_id: str = "c1", register: bool = False, **kw: Any) -> CallRequest:
    account = Account(login="1001", domain="sip.test", password="s3cret-pass")
    return CallRequest(
        call_id=call_id, callee="1002", account=account, register_required=register, **kw
    )


def test_answered_call_then_bye() -> None:
    env = Env()
    env.calls.startup(request())
    assert env.ua.actions[0][:3] == ("invite", "c1", "1002")
    for event in (
        ev.CallTrying("c1", 100),
        ev.CallRinging("c1", 180, "Ringing", None),
        ev.CallProgress("c1", 183, "Session Progress", b"v=0 early"),
        ev.CallAnswered("c1", 200, "OK", b"v=0 answer"),
    ):
        env.calls.on_sip_event(event)
    assert env.statuses("c1") == ["TRYING", "RING", "SESSION_PROGRESS", "ESTABLISHED"]
    assert env.media["c1"].remote == [(b"v=0 early", False), (b"v=0 answer", True)]
    assert env.calls.find(call_id="c1")[0].sip_status == 200
    env.calls.on_sip_event(ev.CallReleased("c1", True, None, "Normal call clearing"))
    assert env.statuses("c1")[-1] == "FINISH"
    assert env.calls.find(call_id="c1") == []  # finished calls leave the registry
    assert env.media["c1"].closed == "Normal call clearing"


@pytest.mark.parametrize(
    ("status", "expected", "info"),
    [
        (486, "BUSY", "Busy Here"),
        (600, "BUSY", "Busy Everywhere"),
        (404, "FAILED", "Not Found"),
        (487, "FINISH", "Normal call clearing"),
        (None, "FAILED", "Failed by request timeout"),
    ],
)
def test_final_failures(status: int | None, expected: str, info: str) -> None:
    env = Env()
    env.calls.startup(request())
    reason = info if status not in (487, None) else "x"
    ev_info = info if status is None else ""
    env.calls.on_sip_event(ev.CallFailed("c1", status, reason, ev_info))
    posted = env.hooks.posted[-1][2]
    assert (posted["status"], posted["sipStatus"], posted["info"]) == (expected, status, info)
    assert env.calls.get("c1") is None
    assert env.media["c1"].closed is not None


def test_duplicate_call_id_and_rtmp_target() -> None:
    env = Env()
    env.calls.startup(request("a", rtmp_url="rtmp://h/live", rtmp_stream="s"))
    with pytest.raises(RequestError) as dup:
        env.calls.startup(request("a"))
    assert (dup.value.status, dup.value.field) == (409, "callId")
    with pytest.raises(RequestError) as rtmp:
        env.calls.startup(request("b", rtmp_url="rtmp://h/live", rtmp_stream="s"))
    assert (rtmp.value.status, rtmp.value.field) == (409, "rtmpUrl")
    env.calls.startup(request("c", rtmp_url="rtmp://h/live", rtmp_stream="other"))
    assert {c.call_id for c in env.calls.all()} == {"a", "c"}


def test_registration_first_then_invite_and_unregister_at_end() -> None:
    env = Env()
    env.calls.startup(request(register=True))
    assert env.ua.actions == [("register", "1001")]
    env.calls.on_sip_event(ev.RegistrationSucceeded("reg1", 600))
    assert env.ua.actions[-1][0] == "invite"
    env.calls.on_sip_event(ev.CallAnswered("c1", 200, "OK", None))
    # A refresh must not place a second INVITE.
    env.calls.on_sip_event(ev.RegistrationSucceeded("reg1", 600))
    assert [a[0] for a in env.ua.actions].count("invite") == 1
    env.calls.terminate("c1")
    assert env.ua.actions[-1] == ("hangup", "c1")
    env.calls.on_sip_event(ev.CallReleased("c1", False, 200, "Normal call clearing"))
    assert env.ua.actions[-1] == ("unregister", "reg1")


def test_registration_failure_fails_the_call_without_invite() -> None:
    env = Env()
    env.calls.startup(request(register=True))
    env.calls.on_sip_event(ev.RegistrationFailed("reg1", 403, "Forbidden", "Authentication failed"))
    posted = env.hooks.posted[-1][2]
    assert (posted["status"], posted["sipStatus"], posted["info"]) == (
        "FAILED",
        403,
        "Authentication failed",
    )
    assert "invite" not in [a[0] for a in env.ua.actions]


def test_terminate_while_registering_finishes_without_invite() -> None:
    env = Env()
    env.calls.startup(request(register=True))
    assert env.calls.terminate("c1")
    assert env.statuses("c1") == ["FINISH"]
    assert [a[0] for a in env.ua.actions] == ["register", "unregister"]
    assert not env.calls.terminate("c1")  # gone: 404 at the REST level


def test_hold_and_unhold_from_remote_offers() -> None:
    env = Env()
    env.calls.startup(request())
    env.calls.on_sip_event(ev.CallAnswered("c1", 200, "OK", None))
    env.media["c1"].hold_answer = True
    env.calls.on_sip_event(ev.RemoteOffer("c1", b"v=0 sendonly", "INVITE"))
    assert env.ua.actions[-1] == ("answer_offer", "c1", b"v=0 answer")
    assert env.calls.get("c1").status == CallStatus.HOLD  # type: ignore[union-attr]
    env.media["c1"].hold_answer = False
    env.calls.on_sip_event(ev.RemoteOffer("c1", b"v=0 sendrecv", "INVITE"))
    assert env.statuses("c1")[-2:] == ["HOLD", "ESTABLISHED"]


def test_media_setup_failure_fails_the_call() -> None:
    env = Env(media_error=RuntimeError("no free media port"))
    call = env.calls.startup(request())
    assert call.status == CallStatus.FAILED
    assert "no free media port" in (call.info or "")
    assert env.ua.actions == []
    assert env.calls.all() == []


def test_call_object_never_carries_the_password() -> None:
    env = Env()
    env.calls.startup(request())
    env.calls.on_sip_event(ev.CallTrying("c1", 100))
    text = repr(env.calls.all()) + str(env.hooks.posted) + str(call_json(env.calls.all()[0]))
    assert "s3cret-pass" not in text


def test_events_for_unknown_calls_are_ignored() -> None:
    env = Env()
    env.calls.on_sip_event(ev.CallAnswered("nope", 200, "OK", None))
    env.calls.on_sip_event(ev.RegistrationSucceeded("regX", 60))
    assert env.hooks.posted == [] and env.ua.actions == []


def test_terminate_ends_a_call_whose_invite_never_left() -> None:
    """Issue 18 zombie: the UA refused the INVITE (bad callee); the call still ends."""
    env = Env()
    env.ua.invite_error = SipParseError("bad host:port ':::99999999'")
    env.calls.startup(request())
    assert env.statuses("c1") == ["FAILED"]  # never left PENDING before: no media held
    assert env.media["c1"].closed is not None
    assert env.calls.get("c1") is None


def test_terminate_ends_a_pending_call_unknown_to_the_ua() -> None:
    env = Env()
    env.calls.startup(request())
    env.ua.live.clear()  # the UA forgot it (it can only end with an event that never comes)
    assert env.calls.get("c1") is not None and env.calls.get("c1").status.value == "PENDING"
    assert env.calls.terminate("c1")
    assert env.statuses("c1") == ["FINISH"]
    assert env.calls.get("c1") is None and env.media["c1"].closed


def test_terminate_of_a_live_invite_sends_cancel_and_waits_for_the_ua() -> None:
    env = Env()
    env.calls.startup(request())
    assert env.calls.terminate("c1")
    assert ("hangup", "c1") in env.ua.actions
    assert env.calls.get("c1") is not None  # ends on the UA's CallFailed 487


def test_terminate_of_an_established_call_ends_it_when_the_bye_is_sent() -> None:
    # RFC 3261 15.1.1: a peer that never answers the BYE must not hold the call (and its
    # ports, its stream) until Timer F; the BYE's late answer changes nothing.
    env = Env()
    env.calls.startup(request())
    env.calls.on_sip_event(ev.CallAnswered("c1", 200, "OK", b"v=0 answer"))
    env.ua.live["c1"] = "confirmed"
    assert env.calls.terminate("c1")
    assert ("hangup", "c1") in env.ua.actions
    assert env.statuses("c1")[-1] == "FINISH" and env.calls.get("c1") is None
    assert env.media["c1"].closed is not None
    env.calls.on_sip_event(ev.CallReleased("c1", False, None, "Timeout"))
    assert env.statuses("c1").count("FINISH") == 1


def test_calls_per_app_key_are_limited_with_a_clear_error() -> None:
    from wcs.limits import REJECTIONS

    refused = REJECTIONS.labels("calls_per_app_key").value
    env = Env()
    env.calls.max_per_app_key = 2
    env.calls.startup(request("a", app_key="k"))
    env.calls.startup(request("b", app_key="k"))
    env.calls.startup(request("c", app_key="other"))
    with pytest.raises(RequestError) as exc:
        env.calls.startup(request("d", app_key="k"))
    assert exc.value.status == 429 and exc.value.field == "appKey"
    assert "limit 2" in str(exc.value)
    assert env.calls.get("d") is None
    assert REJECTIONS.labels("calls_per_app_key").value == refused + 1
    env.calls.terminate("a")
    env.calls.on_sip_event(ev.CallFailed("a", 487, "Request Terminated", ""))
    env.calls.startup(request("d", app_key="k"))  # a place is free again
