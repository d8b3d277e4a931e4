"""Taking part in a call (issue 19): DTMF both ways, sound into the call, hold / unhold,
blind transfer — the call manager's half; the media core and the SIP user agent do the work.

- keys we send: ``RFC2833`` through the call's outgoing audio (RFC 4733 events), ``INFO`` /
  ``INFO_RELAY`` through the UA (one INFO at a time; a 405/501 is kept on the call as
  ``dtmfError`` and logged, the call goes on);
- keys we receive, whatever carried them: once each as a ``DTMFEvent`` hook
  ``{callId, dtmf, type, duration}``, in the call's ``dtmf`` list of ``/call/find``, in the
  ``wcs_dtmf_received_total`` metric, and to :meth:`ReceivedKeys.wait`;
- hold / unhold: our re-INVITE (``sendonly`` / ``sendrecv``); the status becomes HOLD /
  ESTABLISHED when the peer accepts it; the stream and its viewers stay;
- transfer: REFER; each step is a ``TransferStatusEvent`` hook and the call's ``transfer``;
  when the transferee's new call is answered the call ends FINISH with
  ``info`` "Transferred to <target>" (RFC 5589 §6.1: the transferor hangs up);
- the peer's REFER (``sip_allow_refer``): :mod:`wcs.app.call_referred` places the new call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wcs.app.call_referred import ReferredTransfers
from wcs.app.errors import RequestError
from wcs.media.dtmf import RFC2833, DtmfError, DtmfKey, DtmfSettings, parse_type
from wcs.media.sound import SoundClip
from wcs.rtp.keyframe import MEDIA_CONTROL_TYPE
from wcs.sip import events as sev
from wcs.sip.dtmf_info import DtmfInfoError, is_dtmf_info, parse_info
from wcs.sip.in_call import InCallError
from wcs.sip.refer import COMPLETED, ReferError, transfer_target

if TYPE_CHECKING:
    from wcs.app.call import Call
    from wcs.app.calls import CallManager

log = logging.getLogger(__name__)

TALKING = ("ESTABLISHED", "HOLD")  # statuses in which a call can take part


class CallActions:
    def __init__(self, manager: CallManager, dtmf: DtmfSettings | None = None) -> None:
        self.m = manager
        self.dtmf_settings = dtmf or DtmfSettings()
        self.dtmf_received_total: dict[str, int] = {}  # by type
        self.referred = ReferredTransfers(manager)  # the peer's REFER (sip_allow_refer)
        # The peer asked for a keyframe over SIP INFO (RFC 5168): the injected stream's
        # source is asked (set by wcs.app.call_inject).
        self.on_picture_update: Callable[[str], None] | None = None

    # ----------------------------------------------------------------- checks
    def talking(self, call_id: str) -> Call:
        """The established call (404 unknown, 409 not established or without media)."""
        call = self.m.get(call_id)
        if call is None:
            raise RequestError(404, f"call {call_id!r} not found", "callId")
        if call.status.value not in TALKING or call.media is None:
            raise RequestError(409, f"call {call_id!r} is {call.status.value}, not established")
        return call

    # ----------------------------------------------------------------- DTMF out
    def send_dtmf(self, call_id: str, digits: str, dtmf_type: str | None) -> None:
        try:
            kind = parse_type(dtmf_type)
        except DtmfError as exc:
            raise RequestError(400, str(exc), "type") from None
        call = self.talking(call_id)
        assert call.media is not None
        try:
            if kind == RFC2833:
                call.media.send_dtmf(digits)
            else:
                self.m.ua.send_dtmf_info(
                    call_id, kind, digits, self.m.clock(), settings=self.dtmf_settings
                )
        except InCallError as exc:
            raise RequestError(409, str(exc)) from None
        except DtmfError as exc:
            telephone_event = "telephone-event" in str(exc)
            raise RequestError(400, str(exc), "type" if telephone_event else "dtmf") from None
        call.dtmf_error = None
        self.m.wake()

    # ----------------------------------------------------------------- sound in
    def inject_sound(self, call_id: str, clip: SoundClip, loop: bool) -> None:
        call = self.talking(call_id)
        assert call.media is not None
        try:
            call.media.play_sound(clip, loop)
        except DtmfError as exc:  # no audio we can encode on this call
            raise RequestError(409, str(exc)) from None

    def stop_sound(self, call_id: str) -> bool:
        call = self.talking(call_id)
        assert call.media is not None
        return call.media.stop_sound()

    # ----------------------------------------------------------------- hold, transfer
    def hold(self, call_id: str, hold: bool) -> None:
        from wcs.app.call import CallStatus

        call = self.talking(call_id)
        assert call.media is not None
        want = CallStatus.ESTABLISHED if hold else CallStatus.HOLD
        if call.status != want or call.hold_pending is not None:
            raise RequestError(409, f"call {call_id!r} is {call.status.value}")
        offer = call.media.hold_offer(hold)
        if offer is None:
            raise RequestError(409, f"call {call_id!r} has no media session to hold")
        try:
            self.m.ua.reinvite(call_id, offer, self.m.clock())
        except InCallError as exc:
            call.media.hold_offer(not hold)  # back to the direction the peer agreed to
            raise RequestError(409, str(exc)) from None
        call.hold_pending = hold
        self.m.wake()

    def transfer(self, call_id: str, target: str) -> None:
        call = self.talking(call_id)
        try:
            uri = transfer_target(target, call.request.account.domain)
        except ReferError as exc:
            raise RequestError(400, str(exc), "target") from None
        try:
            self.m.ua.refer(call_id, uri, self.m.clock())
        except InCallError as exc:
            raise RequestError(409, str(exc)) from None
        call.transfer = {"target": str(uri), "status": None, "sipStatus": None, "info": None}
        self.m.wake()

    # ----------------------------------------------------------------- what happens
    def dtmf_received(self, call_id: str, key: DtmfKey) -> None:
        call = self.m.get(call_id)
        if call is None:
            return
        call.dtmf.add(key)
        self.dtmf_received_total[key.source] = self.dtmf_received_total.get(key.source, 0) + 1
        log.info(
            "call %s: DTMF %s received (%s, %d ms)", call_id, key.digit, key.source, key.duration_ms
        )
        body = {
            "callId": call_id,
            "dtmf": key.digit,
            "type": key.source,
            "duration": key.duration_ms,
        }
        self.m.hooks.post(call.request.app_key, "DTMFEvent", body)

    def on_sip_event(self, call: Call, event: sev.Event) -> None:
        """The UA events of taking part (the call manager hands over what it does not know)."""
        if isinstance(event, sev.InfoReceived):
            if is_dtmf_info(event.content_type):
                try:
                    key = parse_info(event.content_type, event.body)
                except DtmfInfoError as exc:
                    log.info("call %s: DTMF INFO ignored: %s", call.call_id, exc)
                    return
                self.dtmf_received(call.call_id, key)
            elif (
                event.content_type.split(";")[0].strip().lower() == MEDIA_CONTROL_TYPE
                and b"picture_fast_update" in event.body
                and self.on_picture_update is not None
            ):
                self.on_picture_update(call.call_id)
        elif isinstance(event, sev.DtmfInfoSent):
            if event.status >= 300:
                dropped = f"; not sent: {event.dropped}" if event.dropped else ""
                call.dtmf_error = f"INFO {event.digit}: {event.status} {event.reason}{dropped}"
                log.warning("call %s: DTMF %s", call.call_id, call.dtmf_error)
        elif isinstance(event, sev.OfferAnswered):
            self._hold_answered(call, event)
        elif isinstance(event, sev.TransferUpdate):
            self._transfer_update(call, event)
        elif isinstance(event, sev.ReferReceived):
            self.referred.on_refer(call, event)

    def _hold_answered(self, call: Call, event: sev.OfferAnswered) -> None:
        from wcs.app.call import CallStatus

        hold, call.hold_pending = call.hold_pending, None
        if hold is None:
            return
        ok = event.status is not None and 200 <= event.status < 300
        if not ok:
            log.warning(
                "call %s: %s refused: %s %s",
                call.call_id,
                "hold" if hold else "unhold",
                event.status,
                event.reason,
            )
            if call.media is not None:
                call.media.hold_offer(not hold)  # our side back to what the peer agreed to
            return
        status = CallStatus.HOLD if hold else CallStatus.ESTABLISHED
        self.m.set_status(call, status, call.sip_status, "Hold" if hold else "Unhold")

    def _transfer_update(self, call: Call, event: sev.TransferUpdate) -> None:
        p = event.progress
        info: dict[str, Any] = call.transfer if call.transfer is not None else {"target": None}
        info.update(status=p.status, sipStatus=p.sip_status, info=p.reason)
        call.transfer = info
        log.info("call %s: transfer %s (%s %s)", call.call_id, p.status, p.sip_status, p.reason)
        self.m.hooks.post(
            call.request.app_key, "TransferStatusEvent", {"callId": call.call_id, **info}
        )
        if p.status == COMPLETED:
            self.m.end_transferred(call)

    def ended_info(self, call: Call) -> str | None:
        """The FINISH info of a call the transferee hung up after the transfer succeeded."""
        t = call.transfer
        if t is not None and t.get("status") == COMPLETED:
            return f"Transferred to {t.get('target')}"
        return None
