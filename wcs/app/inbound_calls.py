"""Incoming SIP calls become calls and streams: the policy's decision carried out.

An :class:`IncomingCall` of the UA is judged by :class:`wcs.app.inbound.InboundPolicy`. A
refusal is answered at once (401/403/404). An accepted call becomes a :class:`Call` with
``incoming: true`` (same REST, hooks, media, stream, recording, push as an outgoing one):
its media answers the INVITE's offer (no codec in common: 488 with a Warning), and it is
answered according to the dispatch:

- ``auto``: 200 at once; ESTABLISHED on the ACK;
- ``ring``: 180 and status RING until ``/call/answer`` or ``/call/reject`` (or
  ``ring_timeout``: 480);
- ``hook``: 180 and RING; the appKey's backend gets ``POST <url>/IncomingCallEvent`` with the
  Call object and answers ``{"answer": "accept"|"reject", "status": 486, "toStream": ...}``;
  no usable answer within ``hook_timeout``: ``hook_default``.

With a ``pin`` the answered call publishes its stream only once the caller keyed the PIN and
``#`` (:mod:`wcs.app.inbound_pin`); a wrong or missing PIN hangs up (FAILED with the reason).

Stream name collisions: the name from the template gets ``-2``, ``-3``... until it is free
(an intercom calling twice must not be refused because its first call still publishes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from wcs import sdp
from wcs.app.call import Call, CallRequest, CallStatus, IncomingMedia
from wcs.app.calls import CallManager
from wcs.app.inbound import Dispatch, InboundPolicy, Offer, Refuse
from wcs.app.inbound_pin import bye_reason, check_pin
from wcs.app.media.dtls_srtp import is_dtls_proto
from wcs.rest.views import call_json
from wcs.sip.events import IncomingCall
from wcs.sip.ua import UserAgent

log = logging.getLogger(__name__)

WARNING_NO_CODEC = '304 wcs "Incompatible media format"'
HookAsk = Callable[[str, dict[str, Any]], Awaitable[tuple[int, bytes]]]


@dataclass(slots=True)
class _Waiting:
    call: Call
    answer: bytes | None  # our SDP answer, None: the INVITE had no offer
    dispatch: Dispatch
    timer: asyncio.TimerHandle | None = None
    task: asyncio.Task[None] | None = None


class InboundCalls:
    def __init__(
        self,
        ua: UserAgent,
        calls: CallManager,
        policy: InboundPolicy,
        wake: Callable[[], None],
        clock: Callable[[], float],
        stream_taken: Callable[[str], bool],
        ask_hook: HookAsk | None = None,
        pin_timeout: float = 20.0,
    ) -> None:
        self._ua = ua
        self._calls = calls
        self.policy = policy
        self._wake = wake
        self._clock = clock
        self._taken = stream_taken
        self._ask_hook = ask_hook  # (appKey, Call object) → (HTTP status, body)
        self._waiting: dict[str, _Waiting] = {}
        self.pin_timeout = pin_timeout  # a dispatch's pin without its own pinTimeout
        self._pins: dict[str, asyncio.Task[None]] = {}  # call id -> its PIN check
        calls.watch(self._on_call)

    # ---------------------------------------------------------------- the UA's event
    def on_incoming(self, event: IncomingCall) -> None:
        now = self._clock()
        domain = event.request_uri.partition("@")[2].split(";")[0] or event.source[0]
        offer = Offer(event.caller, event.callee, domain, event.source[0], event.authorization)
        decision = self.policy.decide(offer, now)
        if isinstance(decision, Refuse):
            log.info(
                "incoming call from %s@%s to %s refused: %d",
                event.caller,
                event.source[0],
                event.callee,
                decision.status,
            )
            self._ua.reject(event.ref, decision.status, decision.reason, now, decision.headers)
            self._wake()
            return
        d = decision.dispatch
        req = CallRequest(
            call_id=event.ref,
            callee=event.callee,
            account=decision.account,
            to_stream=self._free_name(d.stream_name(event.caller, event.callee, event.ref)),
            rtmp_url=d.rtmp_url,
            has_audio=d.has_audio,
            has_video=d.has_video,
            app_key=d.app_key,
            incoming=True,
            caller=event.caller,
            record=d.record,
            sip_srtp=offered_srtp(event.sdp),
            answer_mode=d.answer,
        )
        try:
            call = self._calls.add_incoming(req)
        except Exception as exc:  # ports exhausted, ...
            log.warning("incoming call %s: media setup failed: %s", event.ref, exc)
            self._ua.reject(event.ref, 503, "Service Unavailable", now)
            self._wake()
            return
        log.info("incoming call %s from %s to %s (%s)", call.call_id, req.caller, req.callee,
                 decision.via)  # fmt: skip
        media = self._media(call)
        answer = None
        if event.sdp is not None:
            answer = media.answer_first_offer(event.sdp)
            if answer is None:
                warning = ("Warning", WARNING_NO_CODEC)
                self._ua.reject(call.call_id, 488, "Not Acceptable Here", now, [warning])
                self._calls.set_status(call, CallStatus.FAILED, 488, "No common codec")
                self._wake()
                return
        waiting = _Waiting(call, answer, d)
        if d.answer == "auto":
            self._accept(waiting)
            return
        self._waiting[call.call_id] = waiting
        self._ua.ring(call.call_id, now)
        self._calls.set_status(call, CallStatus.RING, 180, "Ringing")
        loop = asyncio.get_running_loop()
        waiting.timer = loop.call_later(d.ring_timeout, self._ring_timeout, call.call_id)
        if d.answer == "hook":
            waiting.task = loop.create_task(self._hook(waiting))
        self._wake()

    # ---------------------------------------------------------------- REST side
    def answer(self, call_id: str) -> bool:
        waiting = self._waiting.pop(call_id, None)
        if waiting is None:
            return False
        self._accept(waiting)
        return True

    def reject(self, call_id: str, status: int = 486) -> bool:
        waiting = self._waiting.pop(call_id, None)
        if waiting is None:
            return False
        self._refuse(waiting, status, "Rejected")
        return True

    def ringing(self, call_id: str) -> bool:
        return call_id in self._waiting

    # ---------------------------------------------------------------- internals
    @staticmethod
    def _media(call: Call) -> IncomingMedia:
        media = call.media
        assert media is not None and hasattr(media, "answer_first_offer")
        return media  # type: ignore[return-value]

    def _free_name(self, name: str) -> str:
        candidate, n = name, 1
        while self._taken(candidate):
            n += 1
            candidate = f"{name}-{n}"
        return candidate

    def _accept(self, waiting: _Waiting) -> None:
        self._stop(waiting)
        call = waiting.call
        media = self._media(call)
        now = self._clock()
        if waiting.dispatch.pin:
            media.hold_stream(True)  # published once the PIN is right
            task = asyncio.get_running_loop().create_task(self._pin(call, waiting.dispatch))
            self._pins[call.call_id] = task
        if waiting.answer is not None:
            self._ua.accept(call.call_id, waiting.answer, now)
            media.start_answered()
        else:
            self._ua.accept(call.call_id, media.offer(), now)  # the answer comes in the ACK
        self._wake()

    def _refuse(self, waiting: _Waiting, status: int, info: str) -> None:
        self._stop(waiting)
        call = waiting.call
        reason = _REASONS.get(status, "Rejected")
        self._ua.reject(call.call_id, status, reason, self._clock())
        self._calls.set_status(call, CallStatus.FINISH, status, info)
        self._wake()

    def _ring_timeout(self, call_id: str) -> None:
        waiting = self._waiting.pop(call_id, None)
        if waiting is not None:
            waiting.timer = None
            self._refuse(waiting, 480, "No answer")

    def _stop(self, waiting: _Waiting) -> None:
        self._waiting.pop(waiting.call.call_id, None)
        if waiting.timer is not None:
            waiting.timer.cancel()
            waiting.timer = None
        task, waiting.task = waiting.task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _on_call(self, call: Call) -> None:
        """A call that ends while it rings (CANCEL, /call/terminate) stops waiting."""
        if call.status in (CallStatus.FINISH, CallStatus.FAILED, CallStatus.BUSY):
            waiting = self._waiting.get(call.call_id)
            if waiting is not None:
                self._stop(waiting)
            pin = self._pins.pop(call.call_id, None)
            if pin is not None and pin is not asyncio.current_task():
                pin.cancel()

    async def _pin(self, call: Call, d: Dispatch) -> None:
        timeout = d.pin_timeout or self.pin_timeout
        try:
            problem = await check_pin(call, d.pin, timeout)
        except EOFError:
            return  # the call ended first
        finally:
            self._pins.pop(call.call_id, None)
        if problem is None:
            log.info("incoming call %s: PIN right, publishing its stream", call.call_id)
            self._media(call).hold_stream(False)
            return
        log.info("incoming call %s: %s, hanging up", call.call_id, problem)
        self._calls.fail(call.call_id, problem, bye_reason(problem))

    async def _hook(self, waiting: _Waiting) -> None:
        call, d = waiting.call, waiting.dispatch
        verdict: dict[str, Any] = {}
        if self._ask_hook is not None:
            with contextlib.suppress(OSError, TimeoutError, ValueError):
                status, body = await asyncio.wait_for(
                    self._ask_hook(d.app_key, call_json(call)), d.hook_timeout
                )
                if 200 <= status < 300 and body.strip():
                    parsed = json.loads(body)
                    verdict = parsed if isinstance(parsed, dict) else {}
        if call.call_id not in self._waiting:
            return  # answered, rejected or cancelled meanwhile
        choice = str(verdict.get("answer") or d.hook_default).lower()
        log.info("incoming call %s: the hook says %s", call.call_id, verdict or "nothing")
        if choice == "accept":
            name = verdict.get("toStream")
            if isinstance(name, str) and name.strip():
                self._rename(call, self._free_name(name.strip()[:200]))
            self._accept(waiting)
            return
        wanted = verdict.get("status")
        code = wanted if isinstance(wanted, int) and 400 <= wanted <= 699 else 603
        self._refuse(waiting, code, "Rejected by the hook")

    def _rename(self, call: Call, name: str) -> None:
        if self._media(call).rename_stream(name):
            log.info("incoming call %s: the hook names its stream %s", call.call_id, name)
            call.request.to_stream = name


def offered_srtp(body: bytes | None) -> str | None:
    """``dtls`` when the INVITE offers DTLS-SRTP (its media then needs a DTLS identity);
    None otherwise: SDES or plain RTP follow the ``sip_srtp`` policy."""
    if not body:
        return None
    try:
        offer = sdp.SessionDescription.parse(body.decode("utf-8", "replace"))
    except sdp.SdpError:
        return None  # answered 488 by the media's negotiation
    live = [m for m in offer.media if not m.rejected]
    return "dtls" if any(is_dtls_proto(m.proto) for m in live) else None


_REASONS = {
    403: "Forbidden",
    404: "Not Found",
    480: "Temporarily Unavailable",
    486: "Busy Here",
    488: "Not Acceptable Here",
    600: "Busy Everywhere",
    603: "Decline",
}
