"""What we send inside a confirmed call to take part in it (issue 19), and the peer's
requests that belong to those actions:

- DTMF by SIP INFO: one :class:`~wcs.sip.dtmf_info_sender.InfoDtmfSender` per call paces the
  keys (one INFO outstanding, then tone + gap) on the UA's timer queue; each key's final
  answer is a :class:`DtmfInfoSent` event (a 405/501 drops the keys after it);
- our re-INVITE with a new offer (hold / unhold): the 2xx is ACKed here, its SDP surfaces as
  :class:`RemoteAnswer`, the outcome as :class:`OfferAnswered`; it occupies the call's
  ``refresh`` slot, so a peer offer meanwhile gets 491 and the session timer waits;
- blind transfer by REFER (RFC 3515): :class:`~wcs.sip.refer.TransferTracker` reads the
  REFER's answer and each NOTIFY (``message/sipfrag``) into :class:`TransferUpdate` events;
- a REFER from the peer is declined (603) unless ``allow_refer`` (setting
  ``sip_allow_refer``): then it is accepted (202), the first NOTIFY says 100 Trying, a
  :class:`ReferReceived` event asks the app to place the new call, and
  :meth:`InCall.notify_refer` reports its progress (``message/sipfrag``, RFC 3515 §2.4.4;
  the final one terminates the implicit subscription). ``Refer-Sub: false`` (RFC 4488):
  no NOTIFY at all.
"""

from __future__ import annotations

import logging

from wcs.media.dtmf import DtmfSettings

from .account import aor
from .call import Calls, SipCall
from .dtmf_info_sender import InfoDtmfSender
from .endpoint import ALLOW, Endpoint
from .errors import SipParseError
from .events import DtmfInfoSent, OfferAnswered, ReferReceived, RemoteAnswer, TransferUpdate
from .message import SipRequest, SipResponse
from .outgoing import OutgoingRequest
from .refer import SIPFRAG, ReferError, TransferTracker, parse_refer_to, refer_headers
from .session_timer import SessionTimer
from .transaction import ServerTransaction
from .uri import SipUri

log = logging.getLogger(__name__)


class InCallError(ValueError):
    """The call cannot take this action now (not confirmed, an offer or transfer running)."""


class InCall:
    def __init__(
        self,
        endpoint: Endpoint,
        calls: Calls,
        session_timer: SessionTimer,
    ) -> None:
        self.endpoint = endpoint
        self.calls = calls
        self.session_timer = session_timer
        self.allow_refer = False  # the peer's REFER: 603 unless allowed (sip_allow_refer)

    def _confirmed(self, ref: str) -> SipCall:
        call = self.calls.by_ref.get(ref)
        if call is None or call.dialog is None or call.state != "confirmed":
            raise InCallError("the call is not established")
        return call

    # ---- DTMF by INFO -------------------------------------------------------------------

    def send_dtmf(
        self,
        ref: str,
        wcs_type: str,
        digits: str,
        tone_ms: int | None,
        settings: DtmfSettings,
        now: float,
    ) -> None:
        """Queue keys; DtmfError for bad keys, InCallError when the call is not confirmed.
        A call keeps one carrier at a time: a type change waits for the queue to drain."""
        call = self._confirmed(ref)
        sender = call.dtmf_info
        if sender is None or (
            sender.wcs_type != wcs_type and not sender.busy and not sender.pending
        ):
            sender = call.dtmf_info = InfoDtmfSender(wcs_type, settings)
        elif sender.wcs_type != wcs_type:
            raise InCallError(f"{sender.wcs_type} keys are still being sent")
        sender.queue(digits, tone_ms)
        self._pump_info(call, now)

    def _pump_info(self, call: SipCall, now: float) -> None:
        sender = call.dtmf_info
        if sender is None or call.state != "confirmed":
            return
        item = sender.info_to_send(now)
        if item is not None:
            req = self.calls.in_dialog(call, "INFO")
            req.headers.add("Content-Type", item.content_type)
            req.body = item.body

            def final(resp: SipResponse | None, info: str, n: float) -> None:
                status, reason = (resp.status, resp.reason) if resp is not None else (408, info)
                sender.on_response(status, reason, n)
                while (result := sender.next_event()) is not None:
                    self.endpoint.emit(
                        DtmfInfoSent(call.ref, result.digit, status, reason, result.dropped)
                    )
                if resp is None or status == 481:
                    self.calls.send_bye(call, n, by_remote=False, info=info)
                    return
                self._pump_info(call, n)

            self.calls.dialog_request(call, req, final, now)
        when = sender.get_timer()
        if when is not None:
            self.endpoint.queue.set(
                ("dtmf-info", call.ref), when, lambda n: self._pump_info(call, n)
            )

    # ---- re-INVITE with our offer -------------------------------------------------------

    def reinvite(self, ref: str, sdp: bytes, now: float) -> None:
        call = self._confirmed(ref)
        if call.pending is not None or call.pending_2xx is not None:
            raise InCallError("the peer's offer is being answered")
        if call.refresh is not None and not call.refresh.done:
            raise InCallError("another offer is in progress")
        req = self.calls.in_dialog(call, "INVITE")
        req.headers.add("Contact", self.endpoint.contact(call.account))
        req.headers.add("Allow", ALLOW)
        req.headers.add("Supported", "timer")
        timed = call.se_interval > 0
        if timed:  # the re-INVITE refreshes the session too (RFC 4028 §7.4)
            req.headers.add("Session-Expires", f"{call.se_interval};refresher=uac")
            req.headers.add("Min-SE", str(call.min_se))
        req.headers.add("Content-Type", "application/sdp")
        req.body = sdp
        out: list[OutgoingRequest] = []

        def final(resp: SipResponse | None, info: str, n: float) -> None:
            call.refresh = None
            if call.state != "confirmed":
                return
            if resp is None or resp.status in (408, 481):
                self.endpoint.emit(OfferAnswered(ref, resp.status if resp else None, info))
                self.calls.send_bye(call, n, by_remote=False, info=info)
                return
            if resp.status < 300:
                self.session_timer.ack_reinvite(call, out[0].request, resp)
                assert call.dialog is not None
                call.dialog.update_target(resp)
                call.local_sdp = sdp
                if timed:
                    self.session_timer.from_2xx(call, resp, n)
                if resp.body:
                    call.remote_sdp = resp.body
                    self.endpoint.emit(RemoteAnswer(ref, resp.body, raw=resp))
            self.endpoint.emit(OfferAnswered(ref, resp.status, resp.reason, raw=resp))

        out.append(self.calls.dialog_request(call, req, final, now))
        call.refresh = out[0]

    # ---- blind transfer -----------------------------------------------------------------

    def refer(self, ref: str, target: SipUri, now: float) -> None:
        call = self._confirmed(ref)
        if call.transfer is not None and not call.transfer.final:
            raise InCallError("a transfer is in progress")
        tracker = call.transfer = TransferTracker()
        req = self.calls.in_dialog(call, "REFER")
        for name, value in refer_headers(target, aor(call.account)):
            req.headers.add(name, value)
        req.headers.add("Contact", self.endpoint.contact(call.account))

        def final(resp: SipResponse | None, info: str, n: float) -> None:
            status, reason = (resp.status, resp.reason) if resp is not None else (408, info)
            refer_sub = resp.headers.get("Refer-Sub") if resp is not None else None
            progress = tracker.on_refer_response(status, reason, refer_sub)
            if progress is not None:
                self.endpoint.emit(TransferUpdate(ref, progress))

        self.calls.dialog_request(call, req, final, now)

    def on_notify(self, call: SipCall, req: SipRequest, stx: ServerTransaction, now: float) -> None:
        tracker = call.transfer
        if tracker is None:
            resp = self.endpoint.response(req, 481, "Subscription Does Not Exist")
            stx.respond(resp, now)
            return
        h = req.headers
        code, progress = tracker.on_notify(
            h.get("Event"), h.get("Subscription-State"), h.get("Content-Type"), req.body
        )
        reasons = {200: "OK", 400: "Bad Request", 415: "Unsupported Media Type"}
        stx.respond(self.endpoint.response(req, code, reasons.get(code, "Bad Event")), now)
        if progress is not None:
            self.endpoint.emit(TransferUpdate(call.ref, progress))

    # ---- the peer's REFER (sip_allow_refer) ---------------------------------------------

    def on_refer(self, call: SipCall, req: SipRequest, stx: ServerTransaction, now: float) -> None:
        """202 and the first NOTIFY, or 400 (no usable Refer-To) / 491 (one runs already)."""
        response = self.endpoint.response
        values = req.headers.get_all("Refer-To")
        try:
            if len(values) != 1:
                raise ReferError("exactly one Refer-To is needed")
            target = parse_refer_to(values[0])
            if target.headers or (target.params.get("method") or "INVITE").upper() != "INVITE":
                raise ReferError("only a plain INVITE transfer is supported")
        except (ReferError, SipParseError) as exc:
            resp = response(req, 400, "Bad Request")
            resp.headers.add("Warning", f'399 wcs "{exc}"')
            stx.respond(resp, now)
            return
        if call.referred or call.state != "confirmed":
            stx.respond(response(req, 491, "Request Pending"), now)
            return
        subscribe = (req.headers.get("Refer-Sub") or "").strip().lower() != "false"
        resp = response(req, 202, "Accepted", contact=True, account=call.account)
        if not subscribe:
            resp.headers.add("Refer-Sub", "false")
        stx.respond(resp, now)
        call.referred = subscribe
        self.notify_refer(call.ref, 100, "Trying", now)
        target.params.pop("method", None)
        by = req.headers.get("Referred-By")
        self.endpoint.emit(ReferReceived(call.ref, str(target), by, raw=req))

    def notify_refer(self, ref: str, status: int, reason: str, now: float) -> None:
        """A NOTIFY with the new call's status line; a final one ends the subscription.
        Nothing when there is no subscription (Refer-Sub: false, ended, or the call ended)."""
        call = self.calls.by_ref.get(ref)
        if call is None or not call.referred or call.state != "confirmed":
            return
        final = status >= 200
        call.referred = not final
        req = self.calls.in_dialog(call, "NOTIFY")
        req.headers.add("Event", "refer")
        state = "terminated;reason=noresource" if final else "active;expires=60"
        req.headers.add("Subscription-State", state)
        req.headers.add("Contact", self.endpoint.contact(call.account))
        req.headers.add("Content-Type", f"{SIPFRAG};version=2.0")
        req.body = f"SIP/2.0 {status} {reason}\r\n".encode()

        def final_answer(resp: SipResponse | None, info: str, n: float) -> None:
            if resp is None or resp.status >= 300:
                log.info("NOTIFY %d of call %s: %s", status, ref, resp.status if resp else info)

        self.calls.dialog_request(call, req, final_answer, now)
