"""The peer transfers our call (its REFER, setting ``sip_allow_refer``; issue 19).

The UA has answered 202 and sent NOTIFY 100 Trying; here the new call is placed to the
Refer-To target with the original call's account (same credentials, no new REGISTER),
media choices, appKey and SRTP policy. Its progress goes back to the peer as NOTIFYs
(180 while it rings, then its final status) and to the appKey's backend as
``TransferStatusEvent`` hooks of the original call with ``referred: true`` and the new
``newCallId``.

The stream: the new call takes over the original call's stream name. The original keeps
publishing until the new call is answered; then it ends FINISH ("Transferred to <target>",
RFC 5589 §6.1: the transferee's old dialog ends) and the new call publishes under the same
name at once. Viewers and pushes of the old publication see it end (UNPUBLISHED) and can
play the name again. A new call that fails leaves the original call as it was.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from typing import TYPE_CHECKING, Any

from wcs.app.media.config import DIRECT_RTMP_PREFIX
from wcs.sip.refer import ACCEPTED, COMPLETED, FAILED, TRYING

if TYPE_CHECKING:
    from wcs.app.call import Call
    from wcs.app.calls import CallManager
    from wcs.sip.events import ReferReceived

log = logging.getLogger(__name__)


class ReferredTransfers:
    def __init__(self, manager: CallManager) -> None:
        self.m = manager
        self._by_new: dict[str, str] = {}  # new call id -> the original call's id
        self._watch = manager.watch(self._on_status)

    def on_refer(self, call: Call, event: ReferReceived) -> None:
        """Place the call the peer asked for."""
        r = call.request
        new_id = f"{call.call_id}-xfer-{secrets.token_hex(3)}"
        name = r.to_stream or (f"{DIRECT_RTMP_PREFIX}{call.call_id}" if r.rtmp_url else None)
        req = dataclasses.replace(
            r,
            call_id=new_id,
            callee=event.target,
            register_required=False,
            to_stream=name,
            rtmp_url=None,  # a direct push stays with the original call (documented)
            rtmp_stream=None,
            incoming=False,
            caller=None,
            custom=dict(r.custom),
            takes_over=call.call_id,
        )
        call.transfer = {"target": event.target, "referred": True, "newCallId": new_id}
        log.info("call %s: the peer transfers it to %s (new call %s)", call.call_id,
                 event.target, new_id)  # fmt: skip
        self._report(call, ACCEPTED, 202, "Accepted")
        self._by_new[new_id] = call.call_id
        self.m.startup(req)  # a call failing at once (ports) is reported by _on_status

    def _on_status(self, new: Call) -> None:
        from wcs.app.call import FINAL_STATUSES, CallStatus

        original_id = self._by_new.get(new.call_id)
        if original_id is None:
            return
        original = self.m.get(original_id)
        now = self.m.clock()
        code = new.sip_status or 0
        if new.status == CallStatus.RING:
            self.m.ua.notify_refer(original_id, 180, "Ringing", now)
            if original is not None:
                self._report(original, TRYING, 180, "Ringing")
        elif new.status == CallStatus.ESTABLISHED:
            del self._by_new[new.call_id]
            self.m.ua.notify_refer(original_id, 200, "OK", now)
            if original is not None:
                self._report(original, COMPLETED, 200, "OK")
                self.m.end_transferred(original)  # unpublishes the name ...
            if new.media is not None:
                new.media.publish_now()  # ... which the new call takes now
        elif new.status in FINAL_STATUSES:
            del self._by_new[new.call_id]
            if not 300 <= code <= 699:
                code = 503
            reason = new.info or "Service Unavailable"
            self.m.ua.notify_refer(original_id, code, reason[:100], now)
            if original is not None:
                self._report(original, FAILED, code, reason)
        else:
            return
        self.m.wake()

    def _report(self, call: Call, status: str, sip_status: int, info: str) -> None:
        t: dict[str, Any] = call.transfer if call.transfer is not None else {}
        t.update(status=status, sipStatus=sip_status, info=info)
        call.transfer = t
        body = {"callId": call.call_id, **t}
        self.m.hooks.post(call.request.app_key, "TransferStatusEvent", body)
