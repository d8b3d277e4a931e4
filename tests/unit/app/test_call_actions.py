"""CallActions: taking part in a call at the manager level (fake UA and media, no sockets):
keys received once each (hook, /call/find, counter, waiters), send_dtmf checks, hold by
our re-INVITE, transfer to FINISH."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from wcs.app.call_dtmf import ReceivedKeys
from wcs.app.errors import RequestError
from wcs.media.dtmf import DtmfError, DtmfKey
from wcs.rest.views import call_json
from wcs.sip import events as ev
from wcs.sip.refer import ACCEPTED, COMPLETED, FAILED, TransferProgress
from wcs.sip.uri import SipUri

from .test_calls import Env, FakeMedia, FakeUA, request


@dataclass
class ActingUA(FakeUA):
    infos: list[tuple[str, str, str]] = field(default_factory=list)

    def send_dtmf_info(self, ref: str, wcs_type: str, digits: str, now: float,
                       **_: Any) -> None:  # fmt: skip
        if any(c not in "0123456789*#ABCD" for c in digits):
            raise DtmfError("dtmf has keys outside 0-9 * # A-D")
        self.infos.append((ref, wcs_type, digits))

    def reinvite(self, ref: str, sdp: bytes, now: float) -> None:
        self.actions.append(("reinvite", ref, sdp))

    def refer(self, ref: str, target: SipUri, now: float) -> None:
        self.actions.append(("refer", ref, str(target)))

    def notify_refer(self, ref: str, status: int, reason: str, now: float) -> None:
        self.actions.append(("notify", ref, status))


@dataclass
class ActingMedia(FakeMedia):
    keys: list[str] = field(default_factory=list)
    holds: list[bool] = field(default_factory=list)
    telephone_event: bool = True
    published_now: int = 0

    def publish_now(self) -> None:
        self.published_now += 1

    def send_dtmf(self, digits: str, tone_ms: int | None = None) -> None:
        if not self.telephone_event:
            raise DtmfError("the peer did not accept telephone-event (RFC 4733) for this call")
        self.keys.append(digits)

    def hold_offer(self, hold: bool) -> bytes | None:
        self.holds.append(hold)
        return b"v=0 sendonly" if hold else b"v=0 sendrecv"


def established() -> tuple[Env, ActingMedia]:
    env = Env()
    env.ua = env.calls._ua = ActingUA()  # type: ignore[assignment]
    media = ActingMedia()
    env.calls._media_factory = lambda call: media  # type: ignore[assignment,return-value]
    env.calls.startup(request())
    env.calls.on_sip_event(ev.CallAnswered("c1", 200, "OK", None))
    return env, media


def test_keys_received_once_each_as_hook_find_and_counter() -> None:
    env, _ = established()
    env.calls.dtmf_received("c1", DtmfKey("5", 160, "RFC2833", 1234))
    env.calls.on_sip_event(ev.InfoReceived("c1", "application/dtmf-relay",
                                           b"Signal=#\r\nDuration=250\r\n"))  # fmt: skip
    env.calls.on_sip_event(ev.InfoReceived("c1", "application/dtmf", b"7"))
    env.calls.on_sip_event(ev.InfoReceived("c1", "application/dtmf", b"garbage"))
    env.calls.on_sip_event(ev.InfoReceived("c1", "application/media_control+xml", b"<x/>"))
    hooks = [b for _, m, b in env.hooks.posted if m == "DTMFEvent"]
    assert hooks == [
        {"callId": "c1", "dtmf": "5", "type": "RFC2833", "duration": 160},
        {"callId": "c1", "dtmf": "#", "type": "INFO", "duration": 250},
        {"callId": "c1", "dtmf": "7", "type": "INFO_RELAY", "duration": 0},
    ]
    shown = call_json(env.calls.get("c1"))["dtmf"]  # type: ignore[arg-type]
    assert [(k["dtmf"], k["type"]) for k in shown] == [
        ("5", "RFC2833"), ("#", "INFO"), ("7", "INFO_RELAY")]  # fmt: skip
    assert env.calls.actions.dtmf_received_total == {"RFC2833": 1, "INFO": 1, "INFO_RELAY": 1}


def test_send_dtmf_checks_and_carriers() -> None:
    env, media = established()
    actions = env.calls.actions
    with pytest.raises(RequestError) as e:
        actions.send_dtmf("nope", "1", None)
    assert e.value.status == 404
    with pytest.raises(RequestError) as e:
        actions.send_dtmf("c1", "1", "SMS")
    assert (e.value.status, e.value.field) == (400, "type")
    actions.send_dtmf("c1", "123#", None)
    actions.send_dtmf("c1", "9", "INFO_RELAY")
    assert media.keys == ["123#"]
    assert env.ua.infos == [("c1", "INFO_RELAY", "9")]  # type: ignore[attr-defined]
    with pytest.raises(RequestError) as e:
        actions.send_dtmf("c1", "1x", "INFO")
    assert (e.value.status, e.value.field) == (400, "dtmf")
    media.telephone_event = False
    with pytest.raises(RequestError) as e:
        actions.send_dtmf("c1", "1", "RFC2833")
    assert (e.value.status, e.value.field) == (400, "type")
    env.calls.on_sip_event(ev.DtmfInfoSent("c1", "9", 405, "Method Not Allowed", "12"))
    call = env.calls.get("c1")
    assert call is not None and call.status.value == "ESTABLISHED"
    assert call_json(call)["dtmfError"] == "INFO 9: 405 Method Not Allowed; not sent: 12"


def test_send_dtmf_on_a_ringing_call_is_409() -> None:
    env, _ = established()
    env.calls.startup(request("c2"))
    env.calls.on_sip_event(ev.CallRinging("c2", 180, "Ringing", None))
    with pytest.raises(RequestError) as e:
        env.calls.actions.send_dtmf("c2", "1", None)
    assert e.value.status == 409


def test_hold_and_unhold_by_our_reinvite() -> None:
    env, media = established()
    actions = env.calls.actions
    actions.hold("c1", True)
    assert env.ua.actions[-1] == ("reinvite", "c1", b"v=0 sendonly")
    with pytest.raises(RequestError):
        actions.hold("c1", True)  # the first one is still out
    env.calls.on_sip_event(ev.OfferAnswered("c1", 200, "OK"))
    assert env.statuses("c1")[-1] == "HOLD"
    actions.hold("c1", False)
    env.calls.on_sip_event(ev.OfferAnswered("c1", 491, "Request Pending"))
    assert env.statuses("c1")[-1] == "HOLD"  # refused: still held, our side too
    assert media.holds == [True, False, True]
    actions.hold("c1", False)
    env.calls.on_sip_event(ev.OfferAnswered("c1", 200, "OK"))
    call = env.calls.get("c1")
    assert call is not None and (call.status.value, call.info) == ("ESTABLISHED", "Unhold")


def test_transfer_completes_and_finishes_the_call() -> None:
    env, _ = established()
    actions = env.calls.actions
    with pytest.raises(RequestError) as e:
        actions.transfer("c1", "a b")
    assert (e.value.status, e.value.field) == (400, "target")
    actions.transfer("c1", "1003")
    assert env.ua.actions[-1] == ("refer", "c1", "sip:1003@sip.test")
    for p in (TransferProgress(ACCEPTED, 202, "Accepted", False),
              TransferProgress(COMPLETED, 200, "OK", True)):  # fmt: skip
        env.calls.on_sip_event(ev.TransferUpdate("c1", p))
    steps = [b["status"] for _, m, b in env.hooks.posted if m == "TransferStatusEvent"]
    assert steps == [ACCEPTED, COMPLETED]
    assert env.ua.actions[-1] == ("hangup", "c1")
    assert env.statuses("c1")[-1] == "FINISH"
    assert env.hooks.posted[-1][2]["info"] == "Transferred to sip:1003@sip.test"


def test_failed_transfer_leaves_the_call() -> None:
    env, _ = established()
    env.calls.actions.transfer("c1", "sip:1003@other.example")
    env.calls.on_sip_event(ev.TransferUpdate("c1", TransferProgress(FAILED, 603, "Decline", True)))
    call = env.calls.get("c1")
    assert call is not None and call.status.value == "ESTABLISHED"
    assert call_json(call)["transfer"]["status"] == FAILED


def referred() -> tuple[Env, list[ActingMedia], str]:
    """c1 established; its peer's REFER to 1003 made a new call with its own media."""
    env, first = established()
    medias = [first]

    def factory(call: Any) -> ActingMedia:
        medias.append(ActingMedia())
        return medias[-1]

    env.calls._media_factory = factory  # type: ignore[assignment]
    env.calls.on_sip_event(ev.ReferReceived("c1", "sip:1003@sip.test", "<sip:1002@sip.test>"))
    invite = env.ua.actions[-1]
    assert invite[0] == "invite" and invite[2] == "sip:1003@sip.test"
    return env, medias, str(invite[1])


def test_peer_refer_places_the_new_call_which_takes_the_stream_over() -> None:
    env, medias, new = referred()
    call, original = env.calls.get(new), env.calls.get("c1")
    assert call is not None and original is not None
    assert call.request.takes_over == "c1"  # the original's stream name, not checked free
    assert call.request.to_stream == original.request.to_stream
    assert call.request.account == original.request.account  # same credentials
    env.calls.on_sip_event(ev.CallRinging(new, 180, "Ringing", None))
    assert env.ua.actions[-1] == ("notify", "c1", 180)
    assert medias[1].published_now == 0
    env.calls.on_sip_event(ev.CallAnswered(new, 200, "OK", None))
    assert ("notify", "c1", 200) in env.ua.actions and ("hangup", "c1") in env.ua.actions
    assert env.statuses("c1")[-1] == "FINISH" and env.statuses(new)[-1] == "ESTABLISHED"
    assert medias[0].closed == "Transferred to sip:1003@sip.test"
    assert medias[1].published_now == 1  # after the original unpublished
    steps = [b for _, m, b in env.hooks.posted if m == "TransferStatusEvent"]
    assert [(b["status"], b["sipStatus"]) for b in steps] == [
        (ACCEPTED, 202), ("TRYING", 180), (COMPLETED, 200)]  # fmt: skip
    assert steps[-1]["referred"] is True and steps[-1]["newCallId"] == new


def test_peer_refer_whose_call_fails_leaves_the_original() -> None:
    env, medias, new = referred()
    env.calls.on_sip_event(ev.CallFailed(new, 486, "Busy Here", "Busy Here"))
    assert env.ua.actions[-1] == ("notify", "c1", 486)
    calls = [b["status"] for _, m, b in env.hooks.posted if m == "CallStatusEvent"
             and b["callId"] == "c1"]  # fmt: skip
    assert calls[-1] == "ESTABLISHED" and medias[0].closed is None
    steps = [b for _, m, b in env.hooks.posted if m == "TransferStatusEvent"]
    assert (steps[-1]["status"], steps[-1]["sipStatus"]) == (FAILED, 486)


@pytest.mark.asyncio
async def test_waiters_get_the_keys_pressed_after_they_started() -> None:
    keys = ReceivedKeys()
    keys.add(DtmfKey("0", 100, "RFC2833"))  # before anyone waits: not theirs
    pin = asyncio.ensure_future(keys.wait(4, until="#"))
    await asyncio.sleep(0)
    for d in "12#9":
        keys.add(DtmfKey(d, 100, "INFO"))
    assert await pin == "12#"
    with pytest.raises(TimeoutError):
        await keys.wait(1, timeout=0.01)
    waiting = asyncio.ensure_future(keys.wait(1))
    await asyncio.sleep(0)
    keys.cancel()
    with pytest.raises(EOFError):
        await waiting
