"""The peer's requests inside a call's dialog: BYE, INFO, OPTIONS, and re-INVITE/UPDATE
offers (RemoteOffer; the app answers through answer_offer), their ACK, their CANCEL; NOTIFY
of our REFER and a REFER of the peer's go to :mod:`.in_call` (``in_call`` set by the UA;
a REFER is declined 603 unless ``in_call.allow_refer``).

Choices: a request for a dialog we do not have is answered 481 (OPTIONS 200); an offer while
another offer/answer is in progress gets 491. An UPDATE without SDP is a session refresh,
answered at once. Our 2xx to a re-INVITE is retransmitted (T1 doubling to T2, UDP only)
until the ACK, and the call is ended with BYE after 64*T1 without ACK (§13.3.1.4). An
offerless re-INVITE gets our offer in the 2xx and the answer in the ACK (RemoteAnswer).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .call import INFO_NORMAL, Calls, SipCall
from .endpoint import KNOWN_METHODS, Endpoint
from .events import CallReleased, InfoReceived, RemoteAnswer, RemoteOffer
from .message import SipRequest
from .session_timer import SessionTimer
from .transaction import ServerTransaction, State
from .uri import NameAddr

if TYPE_CHECKING:
    from .in_call import InCall

log = logging.getLogger(__name__)


class DialogServer:
    """Answers what the peer sends inside our calls' dialogs."""

    def __init__(self, endpoint: Endpoint, calls: Calls, session_timer: SessionTimer) -> None:
        self.endpoint = endpoint
        self.calls = calls
        self.session_timer = session_timer
        self.in_call: InCall | None = None

    def request(self, req: SipRequest, stx: ServerTransaction, to_tag: str, now: float) -> None:
        """A request with a To tag (not ACK, not CANCEL)."""
        response = self.endpoint.response
        call = self.calls.find(req, to_tag)
        m = req.method
        if call is None or call.state == "ended":
            if m == "OPTIONS":
                stx.respond(response(req, 200, "OK"), now)
            else:
                stx.respond(response(req, 481, "Call/Transaction Does Not Exist"), now)
            return
        assert call.dialog is not None
        if not call.dialog.check_remote_seq(req.cseq[0]):
            stx.respond(response(req, 500, "Server Internal Error"), now)
            return
        if m == "BYE":
            stx.respond(response(req, 200, "OK"), now)
            if call.pending is not None:
                call.pending.respond(response(call.pending.request, 487, "Request Terminated"), now)
                call.pending = None
            if call.refresh is not None:
                call.refresh.done = True
            self.calls.end_call(call, CallReleased(call.ref, True, None, INFO_NORMAL, raw=req), now)
        elif m == "INFO":
            stx.respond(response(req, 200, "OK"), now)
            ctype = req.headers.get("Content-Type") or ""
            self.endpoint.emit(InfoReceived(call.ref, ctype, req.body, raw=req))
        elif m == "OPTIONS":
            resp = response(req, 200, "OK")
            resp.headers.add("Accept", "application/sdp")
            stx.respond(resp, now)
        elif m in ("INVITE", "UPDATE"):
            self._on_offer(call, req, stx, now)
        elif m == "NOTIFY" and self.in_call is not None:
            self.in_call.on_notify(call, req, stx, now)
        elif m == "REFER" and self.in_call is not None and self.in_call.allow_refer:
            self.in_call.on_refer(call, req, stx, now)
        elif m == "REFER":
            # We place calls; the far end does not get to move them unless allowed (issue 19).
            stx.respond(response(req, 603, "Decline"), now)
        elif m in KNOWN_METHODS:
            stx.respond(response(req, 405, "Method Not Allowed"), now)
        else:
            stx.respond(response(req, 501, "Not Implemented"), now)

    def _on_offer(self, call: SipCall, req: SipRequest, stx: ServerTransaction, now: float) -> None:
        """Peer re-INVITE or UPDATE: the app answers through answer_offer (or 488)."""
        busy = call.pending is not None or (call.refresh is not None and not call.refresh.done)
        if busy or call.pending_2xx is not None or call.state != "confirmed":
            resp = self.endpoint.response(req, 491, "Request Pending")
            stx.respond(resp, now)
            return
        assert call.dialog is not None
        call.dialog.update_target(req)
        self.session_timer.from_request(call, req)
        sdp = req.body or None
        if req.method == "UPDATE" and sdp is None:
            # a session refresh only: answer at once
            resp = self.endpoint.response(req, 200, "OK", contact=True, account=call.account)
            self.session_timer.add_to_response(call, resp)
            stx.respond(resp, now)
            self.session_timer.arm(call, now)
            return
        if req.method == "INVITE":
            stx.respond(self.endpoint.response(req, 100, "Trying"), now)
        call.pending = stx
        call.pending_offerless = sdp is None
        self.endpoint.emit(RemoteOffer(call.ref, sdp, req.method, raw=req))

    def answer_offer(self, ref: str, sdp: bytes | None, now: float) -> None:
        ep = self.endpoint
        call = self.calls.by_ref.get(ref)
        if call is None or call.pending is None:
            log.info("answer_offer for %s with no pending offer", ref)
            return
        stx = call.pending
        call.pending = None
        req = stx.request
        if sdp is None:
            stx.respond(ep.response(req, 488, "Not Acceptable Here"), now)
            return
        resp = ep.response(req, 200, "OK", body=sdp, contact=True, account=call.account)
        resp.headers.add("Content-Type", "application/sdp")
        self.session_timer.add_to_response(call, resp)
        if call.pending_offerless:
            call.local_sdp = sdp
            call.awaiting_answer_in_ack = req.method == "INVITE"
        else:
            call.remote_sdp = req.body
            call.local_sdp = sdp
        stx.respond(resp, now)
        if req.method == "INVITE":
            number = req.cseq[0]
            call.pending_2xx = (resp.serialize(), stx.dest, number)
            if stx.dest[2] == "udp":
                self.retransmit_2xx(call, number, ep.timers.t1, now)
            ep.queue.set(("2xx-h", ref), now + 64 * ep.timers.t1, lambda n: self._no_ack(call, n))
        self.session_timer.arm(call, now)

    def retransmit_2xx(self, call: SipCall, number: int, interval: float, now: float) -> None:
        def fire(n: float) -> None:
            if call.pending_2xx is None or call.pending_2xx[2] != number:
                return
            self.endpoint.send(call.pending_2xx[0], call.pending_2xx[1])
            self.retransmit_2xx(call, number, min(2 * interval, self.endpoint.timers.t2), n)

        self.endpoint.queue.set(("2xx-g", call.ref), now + interval, fire)

    def _no_ack(self, call: SipCall, now: float) -> None:
        if call.pending_2xx is not None:
            call.pending_2xx = None
            self.endpoint.queue.cancel(("2xx-g", call.ref))
            self.calls.send_bye(call, now, by_remote=False, info="No ACK for 2xx")

    def on_ack(self, req: SipRequest, now: float) -> None:
        """An ACK outside any transaction: the one for our 2xx to a re-INVITE."""
        to_tag = NameAddr.parse(req.headers.get("To") or "").tag or ""
        call = self.calls.find(req, to_tag)
        if call is None or call.pending_2xx is None or call.pending_2xx[2] != req.cseq[0]:
            return
        call.pending_2xx = None
        self.endpoint.queue.cancel(("2xx-g", call.ref))
        self.endpoint.queue.cancel(("2xx-h", call.ref))
        if call.awaiting_answer_in_ack:
            call.awaiting_answer_in_ack = False
            if req.body:
                call.remote_sdp = req.body
                self.endpoint.emit(RemoteAnswer(call.ref, req.body, raw=req))

    def on_cancel(self, req: SipRequest, stx: ServerTransaction, now: float) -> None:
        """CANCEL of a peer's re-INVITE still waiting for the app's answer (else 481)."""
        response = self.endpoint.response
        via = req.top_via
        key = (via.branch or "", via.host.lower(), via.port, "INVITE")
        invite_tx = self.endpoint.server_txs.get(key)
        if invite_tx is None or invite_tx.state is not State.PROCEEDING:
            stx.respond(response(req, 481, "Call/Transaction Does Not Exist"), now)
            return
        stx.respond(response(req, 200, "OK"), now)
        invite_tx.respond(response(invite_tx.request, 487, "Request Terminated"), now)
        for call in self.calls.by_ref.values():
            if call.pending is invite_tx:
                call.pending = None
