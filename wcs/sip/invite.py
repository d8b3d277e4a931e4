"""Our INVITE (RFC 3261 §13.2): placing a call up to its 2xx, CANCEL, redirects, 422.

Choices: the 2xx is ACKed, and so is every retransmission of it, also for 64*T1 after the
call ended; a 2xx from a second fork is ACKed and hung up at once (§13.2.2.4). A 3xx: the
first sip:/sips: Contact is tried once (same Call-ID, From tag and To, CSeq+1); a second
3xx, or one without a usable Contact, fails the call with that status. A 422 raises our
Session-Expires to its Min-SE (twice at most). A CANCEL waits for a provisional response
(§9.1), and the INVITE is given 64*T1 to end after it. A timeout (Timer B) gives status
None and info "Failed by request timeout".
"""

from __future__ import annotations

import logging

from .account import STREAM_TRANSPORTS, Account, account_dest, split_server
from .call import INFO_NORMAL, Calls, SipCall
from .dialog import Dialog
from .endpoint import ALLOW, Endpoint
from .errors import SipParseError
from .events import CallAnswered, CallFailed, CallProgress, CallReleased, CallRinging, CallTrying
from .message import SipRequest, SipResponse
from .outgoing import OutgoingRequest
from .session_timer import SessionTimer
from .transaction import same_hop_request
from .uri import NameAddr, SipUri

log = logging.getLogger(__name__)


class InviteClient:
    """Places calls and carries each INVITE to its final answer."""

    def __init__(self, endpoint: Endpoint, calls: Calls, session_timer: SessionTimer) -> None:
        self.endpoint = endpoint
        self.calls = calls
        self.session_timer = session_timer

    def invite(self, ref: str, account: Account, callee: str, sdp: bytes, now: float) -> None:
        """Place a call. Raises ValueError for a duplicate `ref` or a bad callee/domain."""
        if ref in self.calls.by_ref:
            raise ValueError(f"call {ref!r} exists")
        callee = callee.strip()
        if callee.lower().startswith(("sip:", "sips:")):
            uri = SipUri.parse(callee)
        else:
            uri = SipUri(host=account.domain, user=callee)
        if (
            account.transport in STREAM_TRANSPORTS
            and not account.outbound_proxy
            and "transport" not in uri.params
            and uri.scheme != "sips"
        ):
            uri.params["transport"] = account.transport
        SipUri.parse(str(uri))  # raises SipParseError (a ValueError) for a bad callee/domain
        call = SipCall(ref, account, str(uri), sdp)
        self.session_timer.prepare(call)
        self.calls.add(call)
        self._send_invite(call, now)

    def cancel(self, call: SipCall, now: float) -> None:
        """Hang up a call that is not answered yet."""
        call.cancel_requested = True
        # guard: the INVITE is given 64*T1 to end after CANCEL (§9.1)
        self.endpoint.queue.set(
            ("cancel", call.ref),
            now + 64 * self.endpoint.timers.t1,
            lambda n: self._cancel_guard(call, n),
        )
        if call.state == "proceeding":
            self._send_cancel(call, now)
        # in "calling" the CANCEL waits for a provisional response (§9.1)

    def _send_invite(self, call: SipCall, now: float) -> None:
        ep = self.endpoint
        acc = call.account
        dest = account_dest(acc)
        req = ep.new_request("INVITE", call.uri, acc.transport)
        if acc.outbound_proxy and split_server(acc.outbound_proxy, acc.port)[0] != acc.domain:
            host, port = split_server(acc.outbound_proxy, acc.port)
            route = SipUri(host=host, port=port, params={"lr": None})
            if acc.transport in STREAM_TRANSPORTS:
                route.params = {"transport": acc.transport, "lr": None}
            req.headers.add("Route", f"<{route}>")
        req.headers.add("From", ep.from_header(acc, call.tag))
        to_uri = SipUri.parse(call.to)
        to_uri.params.pop("transport", None)
        req.headers.add("To", f"<{to_uri}>")
        req.headers.add("Call-ID", call.call_id)
        call.cseq += 1
        req.headers.add("CSeq", f"{call.cseq} INVITE")
        req.headers.add("Contact", ep.contact(acc))
        req.headers.add("Allow", ALLOW)
        req.headers.add("Supported", "timer")
        if call.session_expires:
            req.headers.add("Session-Expires", str(call.session_expires))
            req.headers.add("Min-SE", str(call.min_se))
        ep.common_headers(req)
        req.headers.add("Content-Type", "application/sdp")
        req.body = call.local_sdp
        call.invite = req

        def next_cseq() -> int:
            call.cseq += 1
            return call.cseq

        def retried(r: SipRequest) -> None:
            call.invite = r

        call.outgoing = OutgoingRequest(
            ep,
            req,
            dest,
            creds=call.creds,
            next_cseq=next_cseq,
            on_final=lambda resp, info, n: self._invite_final(call, resp, info, n),
            on_provisional=lambda resp, n: self._invite_provisional(call, resp, n),
            on_retry=retried,
            may_retry=lambda: not call.cancel_requested,
        )
        call.outgoing.start(now)

    def _invite_provisional(self, call: SipCall, resp: SipResponse, now: float) -> None:
        if call.state == "calling":
            call.state = "proceeding"
        if call.cancel_requested and not call.cancel_sent:
            self._send_cancel(call, now)
        sdp = resp.body or None
        emit = self.endpoint.emit
        if resp.status == 100:
            emit(CallTrying(call.ref, 100, raw=resp))
        elif resp.status in (180, 181, 182):
            emit(CallRinging(call.ref, resp.status, resp.reason, sdp, raw=resp))
        else:
            emit(CallProgress(call.ref, resp.status, resp.reason, sdp, raw=resp))
        if sdp is not None:
            call.remote_sdp = sdp

    def _invite_final(self, call: SipCall, resp: SipResponse | None, info: str, now: float) -> None:
        self.endpoint.queue.cancel(("cancel", call.ref))
        if resp is not None and 200 <= resp.status < 300:
            self._invite_2xx(call, resp, now)
            return
        if (
            resp is not None
            and resp.status == 422
            and call.retried_422 < 2
            and not call.cancel_requested
        ):
            min_se = (resp.headers.get("Min-SE") or "").split(";")[0].strip()
            if min_se.isdigit() and int(min_se) > call.session_expires:
                call.retried_422 += 1
                call.session_expires = int(min_se)
                call.min_se = int(min_se)
                self._send_invite(call, now)
                return
        if (
            resp is not None
            and 300 <= resp.status < 400
            and not call.redirected
            and not call.cancel_requested
        ):
            target = _redirect_target(resp)
            if target is not None:
                call.redirected = True
                call.uri = target
                self._send_invite(call, now)
                return
        status = resp.status if resp is not None else None
        reason = resp.reason if resp is not None else "Request Timeout"
        end_call = self.calls.end_call
        if call.cancel_requested:
            end_call(call, CallReleased(call.ref, False, status, INFO_NORMAL, raw=resp), now)
        else:
            end_call(call, CallFailed(call.ref, status, reason, info, raw=resp), now)

    def _invite_2xx(self, call: SipCall, resp: SipResponse, now: float) -> None:
        assert call.invite is not None
        try:
            dialog = Dialog.from_uac(call.invite, resp)
        except SipParseError as exc:
            log.info("bad 2xx for %s: %s", call.ref, exc)
            self.calls.end_call(
                call, CallFailed(call.ref, resp.status, resp.reason, f"Bad 2xx: {exc}"), now
            )
            return
        call.dialog = dialog
        call.state = "confirmed"
        if resp.body:
            call.remote_sdp = resp.body
        dest = self.calls.dialog_dest(call)
        ack = dialog.ack(call.invite.cseq[0])
        ack.headers.insert("Via", self.endpoint.via(dest[2]))
        _copy_auth(call.invite, ack)
        self.endpoint.common_headers(ack)
        data = ack.serialize()
        call.ack = (data, dest)
        call.ack_cseq = call.invite.cseq[0]
        self.endpoint.send(data, dest)
        allow = {m.upper() for m in resp.headers.get_all("Allow")}
        call.peer_allows_update = "UPDATE" in allow
        if call.cancel_requested:
            self.calls.send_bye(call, now, by_remote=False, info=INFO_NORMAL)
            return
        self.endpoint.emit(
            CallAnswered(call.ref, resp.status, resp.reason, resp.body or None, raw=resp)
        )
        self.session_timer.from_2xx(call, resp, now)

    def _send_cancel(self, call: SipCall, now: float) -> None:
        invite = call.invite
        if invite is None or call.cancel_sent:
            return
        call.cancel_sent = True
        req = same_hop_request(invite, "CANCEL")
        self.endpoint.common_headers(req)
        dest = call.outgoing.dest if call.outgoing else account_dest(call.account)
        out = OutgoingRequest(
            self.endpoint,
            req,
            dest,
            creds=None,
            next_cseq=lambda: invite.cseq[0],
            on_final=lambda resp, info, n: None,
        )
        out.start(now)

    def _cancel_guard(self, call: SipCall, now: float) -> None:
        if call.state in ("calling", "proceeding"):
            if call.outgoing is not None and call.outgoing.tx is not None:
                call.outgoing.done = True
                call.outgoing.tx.terminate()
            self.calls.end_call(call, CallReleased(call.ref, False, None, INFO_NORMAL), now)

    # ---- 2xx retransmissions after the transaction is gone -------------------------------

    def stray_2xx(self, resp: SipResponse, now: float) -> None:
        """A 2xx retransmission (the transaction is gone): ACK it again (§13.2.2.4)."""
        to_tag = NameAddr.parse(resp.headers.get("To") or "").tag or ""
        call = self.calls.by_call_id.get(resp.call_id)
        if call is not None and call.dialog is not None and call.ack is not None:
            if to_tag == call.dialog.remote_tag and resp.cseq[0] == call.ack_cseq:
                self.endpoint.send(*call.ack)
                return
            if to_tag != call.dialog.remote_tag and call.invite is not None:
                self._ack_and_bye_fork(call, resp, now)
            return
        lingering = self.calls.lingering.get(resp.call_id)
        if lingering is not None and lingering[2] == to_tag:
            self.endpoint.send(lingering[0], lingering[1])

    def _ack_and_bye_fork(self, call: SipCall, resp: SipResponse, now: float) -> None:
        """A second forked 2xx: confirm it and hang it up at once (§13.2.2.4)."""
        assert call.invite is not None
        ep = self.endpoint
        fork = Dialog.from_uac(call.invite, resp)
        dest = self.calls.dialog_dest(call)
        ack = fork.ack(call.invite.cseq[0])
        ack.headers.insert("Via", ep.via(dest[2]))
        ep.send(ack.serialize(), dest)
        bye = fork.request("BYE")
        bye.headers.insert("Via", ep.via(dest[2]))
        out = OutgoingRequest(
            ep, bye, dest, creds=None, next_cseq=fork.next_cseq, on_final=lambda r, i, n: None
        )
        out.start(now)


def _redirect_target(resp: SipResponse) -> str | None:
    for value in resp.headers.get_all("Contact"):
        try:
            uri = NameAddr.parse(value).uri
        except SipParseError:
            continue  # e.g. a tel: URI: try the next one
        uri.headers.clear()  # §19.1.5 headers in a redirect are not taken over
        return str(uri)
    return None


def _copy_auth(src: SipRequest, dst: SipRequest) -> None:
    # §22: a proxy may want the credentials on the ACK too; same nonce is fine there
    for name in ("Proxy-Authorization",):
        value = src.headers.get(name)
        if value is not None:
            dst.headers.add(name, value)
