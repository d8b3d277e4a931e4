"""Our UAS role (RFC 3261 §13.3): a peer's initial INVITE, from its arrival to its ACK.

The INVITE gets 100 Trying at once and surfaces as :class:`IncomingCall`; the application
answers through the UserAgent: ``ring`` (180), ``accept`` (200 with SDP), ``reject`` (a
final status, maybe with headers such as Warning or WWW-Authenticate) or ``redirect`` (3xx
with Contacts). Our 2xx is retransmitted (Timer G, T1 doubling to T2, UDP only) until the ACK
confirms the call (:class:`CallAnswered`, with the ACK's SDP when the INVITE had none); no ACK
within 64*T1 (Timer H) sends BYE and fails the call (:class:`CallFailed` 408). A CANCEL
before our final answer gets 200, the INVITE 487 and the call :class:`CallFailed` 487.

Choices: one To tag per call, fixed when the call is created (no forking on our side); a
Max-Forwards of 0 is answered 483; an INVITE without Contact or with a non-SIP
Request-URI is answered 400/416; a second INVITE with the Call-ID of a live call but
another transaction is answered 482 (merged request, §8.2.2.2), a copy of the accepted one
gets our 2xx again. Afterwards the call is an ordinary dialog: in_dialog.py answers the
peer's BYE, re-INVITE, UPDATE; session_timer.py keeps its session timer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .account import Account
from .call import Calls, SipCall
from .dialog import Dialog
from .endpoint import Endpoint, token
from .errors import SipParseError
from .events import CallAnswered, CallFailed, IncomingCall
from .in_dialog import DialogServer
from .message import SipRequest
from .session_timer import SessionTimer
from .transaction import ServerTransaction, server_key
from .uri import NameAddr, SipUri

log = logging.getLogger(__name__)

INFO_NO_ACK = "No ACK for 2xx"
ExtraHeaders = Sequence[tuple[str, str]]
INFO_CANCELLED = "Cancelled by caller"


class InviteServer:
    """Carries each peer INVITE to its final answer and its ACK."""

    def __init__(
        self,
        endpoint: Endpoint,
        calls: Calls,
        session_timer: SessionTimer,
        dialogs: DialogServer,
    ) -> None:
        self.endpoint = endpoint
        self.calls = calls
        self.session_timer = session_timer
        self.dialogs = dialogs

    # ---- what arrives ---------------------------------------------------------------------

    def on_invite(
        self, req: SipRequest, stx: ServerTransaction, source: tuple[str, int], now: float
    ) -> None:
        """An INVITE without To tag."""
        response = self.endpoint.response
        if (req.headers.get("Max-Forwards") or "").strip() == "0":
            stx.respond(response(req, 483, "Too Many Hops"), now)
            return
        existing = self.calls.by_call_id.get(req.call_id)
        if existing is not None:
            self._second_invite(existing, req, stx, now)
            return
        try:
            ruri = SipUri.parse(req.uri)
        except SipParseError:
            stx.respond(response(req, 416, "Unsupported URI Scheme"), now)
            return
        frm = NameAddr.parse(req.headers.get("From") or "")
        to = NameAddr.parse(req.headers.get("To") or "")
        ref = "in-" + token()
        callee = ruri.user or to.uri.user or ""
        account = Account(login=callee or "wcs", domain=ruri.host, transport=stx.dest[2])
        call = SipCall(ref, account, req.uri, b"")
        try:
            call.dialog = Dialog.from_uas(req, call.tag)
        except SipParseError as exc:
            stx.respond(response(req, 400, f"Bad Request - {exc}"[:120]), now)
            return
        call.incoming = True
        call.call_id = req.call_id
        call.state = "incoming"
        call.invite = req
        call.uas_tx = stx
        self.session_timer.from_request(call, req)
        self.calls.add(call)
        stx.respond(response(req, 100, "Trying"), now)
        self.endpoint.emit(
            IncomingCall(
                ref,
                caller=frm.uri.user or frm.uri.host,
                callee=callee,
                from_uri=str(frm.uri),
                request_uri=req.uri,
                sdp=req.body or None,
                source=source,
                transport=stx.dest[2],
                authorization=req.headers.get("Authorization"),
                raw=req,
            )
        )

    def _second_invite(
        self, call: SipCall, req: SipRequest, stx: ServerTransaction, now: float
    ) -> None:
        first = call.invite
        same = (
            call.incoming
            and first is not None
            and first.cseq == req.cseq
            and first.headers.get("From") == req.headers.get("From")
        )
        if not same:
            stx.respond(self.endpoint.response(req, 482, "Loop Detected"), now)
            return
        # a copy of the accepted INVITE after its transaction ended: our 2xx again
        stx.terminate()
        if call.pending_2xx is not None:
            self.endpoint.send(call.pending_2xx[0], call.pending_2xx[1])

    def on_ack(self, req: SipRequest, now: float) -> bool:
        """The ACK of our 2xx to an initial INVITE (False: not one of ours, look elsewhere)."""
        to_tag = NameAddr.parse(req.headers.get("To") or "").tag or ""
        call = self.calls.find(req, to_tag)
        if call is None or call.state != "accepted" or call.pending_2xx is None:
            return False
        if call.pending_2xx[2] != req.cseq[0]:
            return False
        call.pending_2xx = None
        self.endpoint.queue.cancel(("2xx-g", call.ref))
        self.endpoint.queue.cancel(("2xx-h", call.ref))
        call.state = "confirmed"
        sdp: bytes | None = None
        if call.awaiting_answer_in_ack:
            call.awaiting_answer_in_ack = False
            if not req.body:
                # §13.3.1.4 + RFC 3264: an offer in our 2xx must be answered in the ACK
                self.endpoint.emit(
                    CallFailed(call.ref, None, "Bad Request", "No SDP answer in the ACK", raw=req)
                )
                self.calls.send_bye(call, now, by_remote=False, info="No SDP answer in the ACK")
                return True
            sdp = call.remote_sdp = req.body
        self.session_timer.arm(call, now)
        self.endpoint.emit(CallAnswered(call.ref, 200, "OK", sdp, raw=req))
        return True

    def on_cancel(self, req: SipRequest, stx: ServerTransaction, now: float) -> bool:
        """CANCEL of an initial INVITE we have not answered finally (False: not one)."""
        call = self.calls.by_call_id.get(req.call_id)
        if call is None or call.uas_tx is None or call.state != "incoming":
            return False
        key = server_key(req)
        invite_key = (*key[:-1], "INVITE") if isinstance(key, tuple) else None
        if call.uas_tx.key != invite_key:
            return False
        response = self.endpoint.response
        stx.respond(response(req, 200, "OK", to_tag=call.tag), now)
        invite = call.uas_tx
        call.uas_tx = None
        invite.respond(response(invite.request, 487, "Request Terminated", to_tag=call.tag), now)
        event = CallFailed(call.ref, 487, "Request Terminated", INFO_CANCELLED, raw=req)
        self.calls.end_call(call, event, now)
        return True

    # ---- the application's answers --------------------------------------------------------

    def _waiting(self, ref: str) -> SipCall | None:
        call = self.calls.by_ref.get(ref)
        if call is None or call.uas_tx is None or call.state != "incoming":
            log.info("no incoming call %s waiting for an answer", ref)
            return None
        return call

    def ring(self, ref: str, now: float) -> None:
        """180 Ringing (an early dialog with our To tag)."""
        call = self._waiting(ref)
        if call is None or call.uas_tx is None:
            return
        resp = self.endpoint.response(
            call.uas_tx.request, 180, "Ringing", contact=True, account=call.account, to_tag=call.tag
        )
        call.uas_tx.respond(resp, now)

    def accept(self, ref: str, sdp: bytes, now: float) -> None:
        """200 OK with ``sdp``: an answer, or our offer when the INVITE had none."""
        call = self._waiting(ref)
        if call is None or call.uas_tx is None:
            return
        ep = self.endpoint
        stx, call.uas_tx = call.uas_tx, None
        req = stx.request
        resp = ep.response(
            req, 200, "OK", body=sdp, contact=True, account=call.account, to_tag=call.tag
        )
        resp.headers.add("Content-Type", "application/sdp")
        self.session_timer.add_to_response(call, resp)
        call.local_sdp = sdp
        if req.body:
            call.remote_sdp = req.body
        else:
            call.awaiting_answer_in_ack = True
        call.state = "accepted"
        stx.respond(resp, now)
        number = req.cseq[0]
        call.pending_2xx = (resp.serialize(), stx.dest, number)
        if stx.dest[2] == "udp":
            self.dialogs.retransmit_2xx(call, number, ep.timers.t1, now)
        ep.queue.set(("2xx-h", ref), now + 64 * ep.timers.t1, lambda n: self._no_ack(call, n))

    def _no_ack(self, call: SipCall, now: float) -> None:
        if call.pending_2xx is None or call.state != "accepted":
            return
        call.pending_2xx = None
        self.endpoint.queue.cancel(("2xx-g", call.ref))
        # the app hears of the failure first; the BYE's own end is then for a gone call
        self.endpoint.emit(CallFailed(call.ref, 408, "Request Timeout", INFO_NO_ACK))
        self.calls.send_bye(call, now, by_remote=False, info=INFO_NO_ACK)

    def reject(
        self,
        ref: str,
        status: int,
        reason: str,
        now: float,
        headers: ExtraHeaders = (),
        info: str = "",
    ) -> None:
        """A final non-2xx answer (3xx-6xx); the call ends with :class:`CallFailed`."""
        if not 300 <= status <= 699:
            raise ValueError(f"not a final non-2xx status: {status}")
        call = self._waiting(ref)
        if call is None or call.uas_tx is None:
            return
        stx, call.uas_tx = call.uas_tx, None
        resp = self.endpoint.response(stx.request, status, reason, to_tag=call.tag)
        for name, value in headers:
            resp.headers.add(name, value)
        stx.respond(resp, now)
        self.calls.end_call(call, CallFailed(ref, status, reason, info or reason), now)

    def redirect(self, ref: str, contacts: Sequence[str], now: float, status: int = 302) -> None:
        """A 3xx naming where to call instead (each Contact a SIP URI)."""
        if not 300 <= status < 400:
            raise ValueError(f"not a redirection status: {status}")
        reason = "Moved Temporarily" if status == 302 else "Redirection"
        headers = [("Contact", c if c.startswith("<") else f"<{c}>") for c in contacts]
        self.reject(ref, status, reason, now, headers, info="Redirected")
