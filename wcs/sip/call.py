"""A call's state and the table of calls; what every part of a call does inside its dialog:
where in-dialog requests go, how they are built and sent, BYE, INFO and the call's end.

A call's state runs calling → proceeding → confirmed → ending → ended. An ended call's ACK
lingers for 64*T1 so that late copies of its 2xx are still acknowledged (§13.2.2.4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import auth
from .account import Account, account_dest, default_port
from .dialog import Dialog
from .endpoint import Endpoint, token
from .events import CallReleased, Event
from .message import SipRequest, SipResponse
from .outgoing import OutgoingRequest
from .transaction import Dest, ServerTransaction
from .uri import NameAddr

if TYPE_CHECKING:
    from .dtmf_info_sender import InfoDtmfSender
    from .refer import TransferTracker

INFO_NORMAL = "Normal call clearing"


@dataclass(frozen=True)
class CallInfo:
    sip_call_id: str
    local_tag: str
    remote_tag: str | None
    remote_target: str | None
    remote_sdp: bytes | None
    state: str


class SipCall:
    """One call, ours (UAC) or the peer's (UAS, ``incoming``): its INVITE, its dialog once
    answered, its offer/answer and timers."""

    def __init__(self, ref: str, account: Account, uri: str, sdp: bytes) -> None:
        self.ref = ref
        self.account = account
        self.uri = uri
        self.local_sdp = sdp
        self.remote_sdp: bytes | None = None
        self.call_id = token() + token()
        self.tag = token()
        self.cseq = 0
        self.creds = auth.DigestCredentials(account.auth_name or account.login, account.password)
        self.state = "calling"  # calling, proceeding, confirmed, ending, ended
        self.invite: SipRequest | None = None
        self.outgoing: OutgoingRequest | None = None
        self.dialog: Dialog | None = None
        self.ack: tuple[bytes, Dest] | None = None
        self.ack_cseq = 0
        self.cancel_requested = False
        self.cancel_sent = False
        self.retried_422 = 0
        self.to = uri  # To stays the callee's address when a 3xx redirects the Request-URI
        self.redirected = False
        self.session_expires = 0
        self.min_se = 0
        self.se_interval = 0
        self.we_refresh = False
        self.peer_allows_update = False
        self.refresh: OutgoingRequest | None = None
        self.pending: ServerTransaction | None = None  # peer's re-INVITE/UPDATE to answer
        self.pending_offerless = False
        self.pending_se: tuple[int, str] | None = None
        self.pending_timer_required = False
        self.pending_2xx: tuple[bytes, Dest, int] | None = None  # our 2xx awaiting ACK
        self.awaiting_answer_in_ack = False
        self.dtmf_info: InfoDtmfSender | None = None  # keys we send by INFO (in_call)
        self.transfer: TransferTracker | None = None  # our REFER's progress (in_call)
        self.referred = False  # the peer's REFER runs: its subscription wants NOTIFYs
        self.incoming = False  # UAS role: the peer's INVITE (uas.py)
        self.uas_tx: ServerTransaction | None = None  # that INVITE, until our final answer


class Calls:
    """The live calls by ref and by Call-ID, and the ACKs of ended ones by Call-ID."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.by_ref: dict[str, SipCall] = {}
        self.by_call_id: dict[str, SipCall] = {}
        # ended calls: Call-ID -> (ACK bytes, dest, remote tag) to answer late 2xx copies
        self.lingering: dict[str, tuple[bytes, Dest, str]] = {}

    def add(self, call: SipCall) -> None:
        self.by_ref[call.ref] = call
        self.by_call_id[call.call_id] = call

    def info(self, ref: str) -> CallInfo | None:
        call = self.by_ref.get(ref)
        if call is None:
            return None
        d = call.dialog
        return CallInfo(
            sip_call_id=call.call_id,
            local_tag=call.tag,
            remote_tag=d.remote_tag if d else None,
            remote_target=str(d.remote_target) if d else None,
            remote_sdp=call.remote_sdp,
            state=call.state,
        )

    def find(self, req: SipRequest, to_tag: str) -> SipCall | None:
        """The call whose dialog a peer's request belongs to."""
        call = self.by_call_id.get(req.call_id)
        if call is None or call.dialog is None:
            return None
        from_tag = NameAddr.parse(req.headers.get("From") or "").tag
        if to_tag != call.dialog.local_tag or from_tag != call.dialog.remote_tag:
            return None
        return call

    # ---- our requests inside the dialog --------------------------------------------------

    def dialog_dest(self, call: SipCall) -> Dest:
        acc = call.account
        if acc.outbound_proxy:
            return account_dest(acc)
        assert call.dialog is not None
        hop = call.dialog.next_hop()
        host = hop.host[1:-1] if hop.host.startswith("[") else hop.host
        transport = (hop.params.get("transport") or acc.transport).lower()
        if hop.scheme == "sips":
            transport = "tls"  # RFC 5630: sips means TLS on every hop
        return host, hop.port or default_port(transport), transport

    def in_dialog(self, call: SipCall, method: str) -> SipRequest:
        assert call.dialog is not None
        req = call.dialog.request(method)
        dest = self.dialog_dest(call)
        req.headers.insert("Via", self.endpoint.via(dest[2]))
        self.endpoint.common_headers(req)
        return req

    def dialog_request(
        self,
        call: SipCall,
        req: SipRequest,
        on_final: Callable[[SipResponse | None, str, float], None],
        now: float,
    ) -> OutgoingRequest:
        dialog = call.dialog
        assert dialog is not None
        out = OutgoingRequest(
            self.endpoint,
            req,
            self.dialog_dest(call),
            creds=call.creds,
            next_cseq=dialog.next_cseq,
            on_final=on_final,
        )
        out.start(now)
        return out

    def send_info(self, ref: str, content_type: str, body: bytes, now: float) -> None:
        call = self.by_ref.get(ref)
        if call is None or call.dialog is None or call.state != "confirmed":
            return
        req = self.in_dialog(call, "INFO")
        req.headers.add("Content-Type", content_type)
        req.body = body

        def final(resp: SipResponse | None, info: str, n: float) -> None:
            if resp is None or resp.status in (408, 481):
                self.send_bye(call, n, by_remote=False, info=info if resp is None else resp.reason)

        self.dialog_request(call, req, final, now)

    def send_bye(
        self, call: SipCall, now: float, *, by_remote: bool, info: str, reason: str = ""
    ) -> None:
        if call.dialog is None or call.state in ("ending", "ended"):
            return
        call.state = "ending"
        for name in ("st-refresh", "st-expire", "2xx-g", "2xx-h", "dtmf-info"):
            self.endpoint.queue.cancel((name, call.ref))
        if call.pending is not None:  # a peer offer the app never answered
            call.pending.respond(
                self.endpoint.response(call.pending.request, 487, "Request Terminated"), now
            )
            call.pending = None
        req = self.in_dialog(call, "BYE")
        if reason:
            req.headers.add("Reason", reason)  # RFC 3326: why we hang up

        def final(resp: SipResponse | None, _info: str, n: float) -> None:
            status = resp.status if resp is not None else None
            self.end_call(call, CallReleased(call.ref, by_remote, status, info, raw=resp), n)

        self.dialog_request(call, req, final, now)

    def end_call(self, call: SipCall, event: Event, now: float) -> None:
        if call.state == "ended":
            return
        call.state = "ended"
        # every per-call timer: the CANCEL guard, the session timer, our 2xx's retransmission
        for name in ("cancel", "st-refresh", "st-expire", "2xx-g", "2xx-h", "dtmf-info"):
            self.endpoint.queue.cancel((name, call.ref))
        self.by_ref.pop(call.ref, None)
        self.by_call_id.pop(call.call_id, None)
        if call.ack is not None and call.dialog is not None:
            self.lingering[call.call_id] = (call.ack[0], call.ack[1], call.dialog.remote_tag)
            cid = call.call_id
            self.endpoint.queue.set(
                ("linger", cid),
                now + 64 * self.endpoint.timers.t1,
                lambda _n: self.lingering.pop(cid, None),
            )
        self.endpoint.emit(event)
