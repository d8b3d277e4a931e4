"""CallManager: the REST call semantics of WCS on top of the SIP user agent.

A call is created by ``/call/startup``; it registers first when asked, places the INVITE and
follows the SIP events to the WCS statuses (TRYING, RING, SESSION_PROGRESS, BUSY, ESTABLISHED,
HOLD, FINISH, FAILED). Each change is posted as a ``CallStatusEvent`` to the appKey's backend.
A finished call leaves the registry at once, so ``/call/find`` answers 404 (the WCS demo pages
take any error as "call finished").

Taking part in an established call (DTMF, sound, hold, transfer) is
:class:`wcs.app.call_actions.CallActions` (``manager.actions``).

Ownership: a :class:`Call` owns its registration, its dialog (through the UA reference, which is
the callId) and its media session; :meth:`CallManager._finish` releases all three, whatever
ended the call.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from wcs.app.call import (
    FINAL_STATUSES,
    FINISHED_KEPT,
    NORMAL_CLEARING,
    Call,
    CallRequest,
    CallStatus,
    MediaFactory,
)
from wcs.app.call_actions import CallActions
from wcs.app.errors import RequestError
from wcs.app.hooks import HookPublisher
from wcs.app.stream import CallbackSet, Subscription
from wcs.limits import Quota
from wcs.media.dtmf import DtmfKey, DtmfSettings
from wcs.rest.views import call_json
from wcs.sip import events as sev
from wcs.sip.ua import UserAgent

log = logging.getLogger(__name__)


class CallManager:
    def __init__(
        self,
        ua: UserAgent,
        wake: Callable[[], None],
        hooks: HookPublisher,
        media_factory: MediaFactory,
        clock: Callable[[], float] = time.monotonic,
        *,
        dtmf: DtmfSettings | None = None,
        max_per_app_key: int = 0,
    ) -> None:
        # live calls per appKey (0: unlimited): a place is taken at startup, given back in _finish
        self._app_quota = Quota("calls", 0, max_per_app_key, key_kind="app_key")
        self._ua = ua
        self._wake = wake  # flushes the UA's output after an action (the transport's wake)
        self._hooks = hooks
        self._media_factory = media_factory
        self._clock = clock
        self._calls: dict[str, Call] = {}
        self._by_reg: dict[str, str] = {}
        self._watchers: CallbackSet[Callable[[Call], None]] = CallbackSet()
        # Set by the server: the status of a call's RTMP push (None when it has none).
        self.rtmp_status_lookup: Callable[[Call], str | None] | None = None
        self.counters: dict[str, int] = {s.value: 0 for s in CallStatus}
        # Ended calls, newest last, for `/call/find` with `finished: true` (our extension:
        # WCS answers 404 once a call ended, so a client polling it never sees why).
        self.finished: OrderedDict[str, Call] = OrderedDict()
        self.actions = CallActions(self, dtmf)

    # what CallActions uses
    @property
    def ua(self) -> UserAgent:
        return self._ua

    @property
    def hooks(self) -> HookPublisher:
        return self._hooks

    def clock(self) -> float:
        return self._clock()

    def wake(self) -> None:
        self._wake()

    def end_transferred(self, call: Call) -> None:
        """The transfer succeeded: hang up (RFC 5589 §6.1), FINISH with the transfer info."""
        if call.invited:
            self._ua.hangup(call.call_id, self._clock())
        self._finish(
            call, CallStatus.FINISH, None, self.actions.ended_info(call) or NORMAL_CLEARING
        )
        self._wake()

    def dtmf_received(self, call_id: str, key: DtmfKey) -> None:
        self.actions.dtmf_received(call_id, key)

    # ----------------------------------------------------------------- REST side
    def startup(self, req: CallRequest) -> Call:
        if req.call_id in self._calls:
            raise RequestError(409, f"call {req.call_id!r} already exists", "callId")
        if req.rtmp_url:
            for other in self._calls.values():
                o = other.request
                if o.rtmp_url == req.rtmp_url and o.rtmp_stream == req.rtmp_stream:
                    raise RequestError(
                        409,
                        "another call already republishes to this rtmpUrl/rtmpStream",
                        "rtmpUrl",
                    )
        if not self._app_quota.admit(req.app_key):
            limit = self._app_quota.per_key
            raise RequestError(429, f"too many calls for this appKey (limit {limit})", "appKey")
        call = Call(req)
        lookup = self.rtmp_status_lookup
        if req.rtmp_url and lookup is not None:
            call.rtmp_status = lambda: lookup(call)
        self._calls[req.call_id] = call
        try:
            call.media = self._media_factory(call)
        except Exception as exc:  # ports exhausted, bad stream name, ...
            log.warning("call %s: media setup failed: %s", req.call_id, exc)
            self._finish(call, CallStatus.FAILED, None, f"Failed by session creation: {exc}")
            return call
        now = self._clock()
        try:
            if req.register_required:
                call.reg_id = self._ua.register(req.account, now)
                self._by_reg[call.reg_id] = req.call_id
            else:
                self._invite(call, now)
        except ValueError as exc:  # validated at REST; never leave a call that cannot end
            log.warning("call %s: cannot be placed: %s", req.call_id, exc)
            self._finish(call, CallStatus.FAILED, None, f"Failed by session creation: {exc}")
        self._wake()
        return call

    @property
    def max_per_app_key(self) -> int:
        return self._app_quota.per_key

    @max_per_app_key.setter
    def max_per_app_key(self, limit: int) -> None:
        self._app_quota.per_key = limit

    def find(
        self,
        call_id: str | None = None,
        callee: str | None = None,
        status: str | None = None,
        rtmp_url: str | None = None,
        finished: bool = False,
    ) -> list[Call]:
        """Live calls matching every filter; with ``finished``, recently ended ones too."""
        out = []
        pool = list(self._calls.values())
        if finished:
            pool += [c for c in self.finished.values() if c.call_id not in self._calls]
        for call in pool:
            if call_id is not None and call.call_id != call_id:
                continue
            if callee is not None and call.request.callee != callee:
                continue
            if status is not None and call.status.value != status.upper():
                continue
            if rtmp_url is not None and call.request.rtmp_url != rtmp_url:
                continue
            out.append(call)
        return out

    def get(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    def all(self) -> list[Call]:
        return list(self._calls.values())

    def terminate(self, call_id: str) -> bool:
        call = self._calls.get(call_id)
        if call is None:
            return False
        now = self._clock()
        sip_call = self._ua.call_info(call_id) if call.invited else None
        if call.request.incoming and call.status in (CallStatus.PENDING, CallStatus.RING):
            self._ua.hangup(call_id, now)  # 603 Decline while it rings
            self._finish(call, CallStatus.FINISH, 603, NORMAL_CLEARING)
        elif sip_call is not None and sip_call.state in ("confirmed", "accepted"):
            # RFC 3261 15.1.1: the session ends when the BYE is sent, not when it is answered
            # (a peer that never answers would hold the call for Timer F). The UA's later
            # CallReleased finds no call and is ignored.
            self._ua.hangup(call_id, now)
            self._finish(call, CallStatus.FINISH, call.sip_status, NORMAL_CLEARING)
        elif sip_call is not None and sip_call.state not in ("ending", "ended"):
            # Not answered yet: CANCEL; the 487 (CallFailed) or a crossing 2xx ends the call.
            self._ua.hangup(call_id, now)
        elif sip_call is None or sip_call.state == "ended":
            # Nothing in SIP to wait for (still registering, or the INVITE never left):
            # the call ends now, in whatever state it was.
            self._finish(call, CallStatus.FINISH, None, NORMAL_CLEARING)
        self._wake()
        return True

    def fail(self, call_id: str, info: str, reason: str = "") -> bool:
        """The media side gives up on a call (e.g. "Failed by RTP activity"), or a policy
        does (a wrong PIN): FAILED with ``info``, and the peer gets a BYE (with ``reason`` as
        its Reason header, RFC 3326) or CANCEL for it."""
        call = self._calls.get(call_id)
        if call is None:
            return False
        if call.invited:
            # The UA's CallReleased for this BYE comes later, finds no call and is ignored.
            self._ua.hangup(call_id, self._clock(), reason)
        self._finish(call, CallStatus.FAILED, None, info)
        self._wake()
        return True

    def send_info(self, call_id: str, content_type: str, body: bytes) -> bool:
        call = self._calls.get(call_id)
        if call is None or call.status not in (CallStatus.ESTABLISHED, CallStatus.HOLD):
            return False
        self._ua.send_info(call_id, content_type, body, self._clock())
        self._wake()
        return True

    # ----------------------------------------------------------------- incoming calls
    def add_incoming(self, req: CallRequest) -> Call:
        """An incoming call the policy accepted (its media is made here; a failure raises)."""
        call = Call(req, invited=True)  # invited: there is a dialog, terminate goes to the UA
        lookup = self.rtmp_status_lookup
        if req.rtmp_url and lookup is not None:
            call.rtmp_status = lambda: lookup(call)
        call.media = self._media_factory(call)
        self._calls[req.call_id] = call
        return call

    def set_status(
        self, call: Call, status: CallStatus, sip_status: int | None, info: str | None
    ) -> None:
        """A status decided outside the SIP events (RING of an incoming call, a refusal)."""
        if status in FINAL_STATUSES:
            self._finish(call, status, sip_status, info or "")
        else:
            self._set(call, status, sip_status, info)

    def shutdown(self) -> None:
        """Hang up every call and remove every registration (SIGTERM)."""
        self._ua.shutdown(self._clock())
        self._wake()

    # ----------------------------------------------------------------- SIP side
    def on_sip_event(self, event: sev.Event) -> None:
        if isinstance(event, sev.RegistrationSucceeded | sev.RegistrationFailed):
            self._on_registration(event)
            return
        if isinstance(event, sev.RegistrationEnded):
            self._by_reg.pop(event.reg_id, None)
            return
        ref = getattr(event, "ref", None)
        call = self._calls.get(ref) if isinstance(ref, str) else None
        if call is None:
            return
        now = self._clock()
        if isinstance(event, sev.CallTrying):
            self._set(call, CallStatus.TRYING, event.status, None)
        elif isinstance(event, sev.CallRinging):
            self._early_sdp(call, event.sdp)
            self._set(call, CallStatus.RING, event.status, event.reason)
        elif isinstance(event, sev.CallProgress):
            self._early_sdp(call, event.sdp)
            self._set(call, CallStatus.SESSION_PROGRESS, event.status, event.reason)
        elif isinstance(event, sev.CallAnswered):
            if event.sdp and call.media is not None:
                call.media.on_remote_sdp(event.sdp, True)
            call.established_at = now
            self._set(call, CallStatus.ESTABLISHED, event.status, event.reason)
        elif isinstance(event, sev.CallFailed):
            busy = event.status in (486, 600)
            status = CallStatus.BUSY if busy else CallStatus.FAILED
            info = event.info or event.reason
            if event.status == 487:  # our CANCEL went through: a normal end for the user
                status, info = CallStatus.FINISH, NORMAL_CLEARING
            self._finish(call, status, event.status, info)
        elif isinstance(event, sev.CallReleased):
            info = self.actions.ended_info(call) or event.info or NORMAL_CLEARING
            self._finish(call, CallStatus.FINISH, event.status, info)
        elif isinstance(event, sev.RemoteOffer):
            self._on_remote_offer(call, event, now)
        elif isinstance(event, sev.RemoteAnswer):
            if call.media is not None:
                call.media.on_remote_sdp(event.sdp, True)
        else:
            self.actions.on_sip_event(call, event)

    def _on_registration(self, event: sev.RegistrationSucceeded | sev.RegistrationFailed) -> None:
        call_id = self._by_reg.get(event.reg_id)
        call = self._calls.get(call_id) if call_id else None
        if call is None:
            return
        if isinstance(event, sev.RegistrationSucceeded):
            if not call.invited:
                self._invite(call, self._clock())
                self._wake()
            return
        # A failed refresh during a call is logged; a failed first REGISTER fails the call.
        if call.invited:
            log.warning("call %s: registration refresh failed: %s", call.call_id, event.info)
            return
        self._finish(call, CallStatus.FAILED, event.status, event.info or event.reason)

    def _invite(self, call: Call, now: float) -> None:
        assert call.media is not None
        call.invited = True
        self._ua.invite(
            call.call_id, call.request.account, call.request.callee, call.media.offer(), now
        )

    def _early_sdp(self, call: Call, sdp: bytes | None) -> None:
        if sdp and call.media is not None:
            call.media.on_remote_sdp(sdp, False)

    def _on_remote_offer(self, call: Call, event: sev.RemoteOffer, now: float) -> None:
        if call.media is None:
            self._ua.answer_offer(call.call_id, None, now)
            return
        answer, hold = call.media.answer_remote_offer(event.sdp)
        self._ua.answer_offer(call.call_id, answer, now)
        if answer is not None:
            if hold and call.status == CallStatus.ESTABLISHED:
                self._set(call, CallStatus.HOLD, call.sip_status, "Hold")
            elif not hold and call.status == CallStatus.HOLD:
                self._set(call, CallStatus.ESTABLISHED, call.sip_status, "Unhold")

    # ----------------------------------------------------------------- state
    def _set(
        self, call: Call, status: CallStatus, sip_status: int | None, info: str | None
    ) -> None:
        if call.status in FINAL_STATUSES:
            return
        if status == call.status and sip_status == call.sip_status:
            return
        call.status = status
        call.sip_status = sip_status
        call.info = info
        self.counters[status.value] += 1
        log.info(
            "call %s: %s (sip %s%s)",
            call.call_id,
            status.value,
            sip_status,
            f", {info}" if info else "",
        )
        self._hooks.post(call.request.app_key, "CallStatusEvent", call_json(call))
        for callback in self._watchers.items:
            callback(call)

    def watch(self, callback: Callable[[Call], None]) -> Subscription:
        """``callback(call)`` on every status change of every call (after its hook)."""
        return self._watchers.add(callback)

    def _finish(self, call: Call, status: CallStatus, sip_status: int | None, info: str) -> None:
        if call.status in FINAL_STATUSES:
            return
        self._set(call, status, sip_status, info)
        if self._calls.pop(call.call_id, None) is not None:
            self._app_quota.release(call.request.app_key)
        self.finished.pop(call.call_id, None)
        self.finished[call.call_id] = call
        while len(self.finished) > FINISHED_KEPT:
            self.finished.popitem(last=False)
        call.dtmf.cancel()
        if call.media is not None:
            call.media.close(info)
        if call.reg_id is not None:
            self._by_reg.pop(call.reg_id, None)
            self._ua.unregister(call.reg_id, self._clock())
            call.reg_id = None
            self._wake()
