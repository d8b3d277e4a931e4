"""The SIP user agent core, sans-IO: registrations and outgoing calls (RFC 3261, 3581, 4028).

Feed it with `receive(data, addr, transport, now)` and `handle_timer(now)`, drive it with the
actions (`register`, `invite`, `hangup`, ...), and drain `datagrams_to_send`, `get_timer` and
`next_event`. Hosts are whatever the edge resolves: the core only names (host, port, transport).

`UserAgent` is the facade: it owns the parts and routes what arrives to them.

- endpoint.py: what the parts share (timer queue, outbox, events, transaction tables,
  Via/Contact/From and the response copy); outgoing.py: one request with its digest retries
- registration.py: REGISTER, refresh, removal
- call.py: the call state and table, in-dialog requests we send (BYE, INFO), the call's end
- invite.py: our INVITE up to its 2xx: CANCEL, 3xx, 422, ACK of every 2xx copy, forks
- in_dialog.py: the peer's requests in a dialog: BYE, INFO, OPTIONS, re-INVITE/UPDATE offers
- session_timer.py: RFC 4028 refresh and expiry
- in_call.py: taking part: DTMF by INFO, our re-INVITE (hold/unhold), REFER and its NOTIFYs
- uas.py: the peer's initial INVITE up to its ACK (IncomingCall; ring, accept, reject, redirect)
- inbound.py: Via stamping, request validity, 400/505 for what does not parse

Choices (where the RFCs leave room; the others are in those modules):
- An incoming initial INVITE is answered 603 Decline unless the UAS role is on
  (``incoming=True``): then it becomes an IncomingCall for the application to answer.
  A REFER inside a call is answered 603 Decline unless ``allow_refer`` (then ReferReceived).
- A request requiring an extension other than "timer" is answered 420.
- A timeout (Timer B/F) gives status None and info "Failed by request timeout".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from wcs.media.dtmf import DtmfSettings

from .account import Account
from .call import INFO_NORMAL, CallInfo, Calls
from .endpoint import KNOWN_METHODS, Endpoint
from .errors import SipParseError
from .events import Event
from .in_call import InCall, InCallError
from .in_dialog import DialogServer
from .inbound import MALFORMED, malformed_answer, stamp_via, validate
from .invite import InviteClient
from .message import Headers, SipRequest, SipResponse, parse_message
from .registration import Registrations
from .session_timer import SessionTimer
from .transaction import Dest, ServerTransaction, SipTimers, State, server_key
from .uas import ExtraHeaders as Extra
from .uas import InviteServer
from .uri import NameAddr, SipUri
from .via import Via

__all__ = ["Account", "CallInfo", "InCallError", "SipTimers", "UserAgent"]

log = logging.getLogger(__name__)

SUPPORTED_OPTIONS = frozenset({"timer"})


class UserAgent:
    def __init__(
        self,
        *,
        local_port: int,
        public_ip: str,
        user_agent: str = "wcs",
        timers: SipTimers = SipTimers(),  # noqa: B008 - frozen, shared safely
        session_expires: int = 1800,
        min_se: int = 90,
        register_expires: int = 600,
        incoming: bool = False,
        keepalive_interval: float = 30.0,
        keepalive_failures: int = 2,
    ) -> None:
        self.incoming = incoming  # the UAS role: peer INVITEs become IncomingCall
        self._ep = Endpoint(
            local_port=local_port, public_ip=public_ip, user_agent=user_agent, timers=timers
        )
        self._regs = Registrations(
            self._ep, register_expires, keepalive_interval, keepalive_failures
        )
        self._calls = Calls(self._ep)
        self._session_timer = SessionTimer(
            self._ep, self._calls, session_expires=session_expires, min_se=min_se
        )
        self._invites = InviteClient(self._ep, self._calls, self._session_timer)
        self._dialogs = DialogServer(self._ep, self._calls, self._session_timer)
        self._in_call = self._dialogs.in_call = InCall(self._ep, self._calls, self._session_timer)
        self._uas = InviteServer(self._ep, self._calls, self._session_timer, self._dialogs)

    @property
    def local_port(self) -> int:
        return self._ep.local_port

    @local_port.setter
    def local_port(self, port: int) -> None:
        self._ep.local_port = port  # the edge sets it when it binds port 0

    @property
    def tls_port(self) -> int:
        return self._ep.tls_port

    @tls_port.setter
    def tls_port(self, port: int) -> None:
        self._ep.tls_port = port  # Via/Contact of TLS requests name the TLS listener

    @property
    def public_ip(self) -> str:
        return self._ep.public_ip

    @property
    def user_agent(self) -> str:
        return self._ep.user_agent

    @property
    def timers(self) -> SipTimers:
        return self._ep.timers

    @property
    def session_expires(self) -> int:
        return self._session_timer.session_expires

    @property
    def min_se(self) -> int:
        return self._session_timer.min_se

    @property
    def register_expires(self) -> int:
        return self._regs.expires

    # ---- sans-IO plumbing ---------------------------------------------------------------

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Dest]]:
        """What to send, each to its (host, port, transport)."""
        out, self._ep.out = self._ep.out, []
        return [(data, (addr[0], addr[1], transport)) for data, addr, transport in out]

    def get_timer(self) -> float | None:
        return self._ep.queue.next()

    def handle_timer(self, now: float) -> None:
        try:
            self._ep.queue.fire(now)
        except Exception:  # a bug must not stop the other calls' timers
            log.exception("SIP timer handler failed")

    def next_event(self) -> Event | None:
        events = self._ep.events
        return events.popleft() if events else None

    def receive(self, data: bytes, addr: tuple[str, int], transport: str, now: float) -> None:
        try:
            msg = parse_message(data, stream=transport != "udp")
        except SipParseError as exc:
            answer = malformed_answer(data, addr, transport, str(exc), self._ep.user_agent)
            if answer is not None:
                self._ep.send(*answer)
            return
        try:
            if isinstance(msg, SipRequest):
                self._on_request(msg, addr, transport, now)
            else:
                self._on_response(msg, now)
        except SipParseError as exc:
            log.debug("dropped SIP message from %s: %s", addr, exc)
            MALFORMED.inc()
        except Exception:
            log.exception("SIP message handling failed")

    def transport_error(
        self, addr: tuple[str, int], transport: str, reason: str, now: float
    ) -> None:
        """Called by the edge when it cannot reach `addr` (DNS or TCP connect failure):
        the requests waiting for it fail at once, with `reason` as info."""
        self._fail_waiting(addr, transport, reason, now, invites=True)

    def flow_lost(self, addr: tuple[str, int], transport: str, now: float) -> None:
        """Called by the edge when a connection it opened to ``addr`` closed without our
        asking: a non-INVITE request still waiting on it fails at once (its answer cannot
        come that way: a REGISTER sent to a registrar going down waited for Timer F, 32 s);
        an INVITE waits for Timer B, the proxy may answer over a connection of its own. A
        registration made over it registers again (reg_keepalive.py)."""
        self._fail_waiting(addr, transport, "Connection lost", now, invites=False)
        self._regs.keepalive.flow_lost(addr, transport, now)

    def _fail_waiting(
        self, addr: tuple[str, int], transport: str, reason: str, now: float, invites: bool
    ) -> None:
        for tx in list(self._ep.client_txs.values()):
            if (tx.dest[0], tx.dest[1]) != addr or tx.dest[2] != transport:
                continue
            if invites or tx.request.method != "INVITE":
                tx.transport_failed(reason, now)

    @property
    def keepalive_stats(self) -> tuple[int, int]:
        """(keep-alive OPTIONS sent, REGISTERs sent again because a flow looked dead)."""
        ka = self._regs.keepalive
        return ka.probes, ka.reregistrations

    # ---- public actions -----------------------------------------------------------------

    def register(self, account: Account, now: float, expires: int | None = None) -> str:
        """REGISTER ``account`` (``expires``: asked lifetime, else the UA's), kept refreshed."""
        return self._regs.register(account, now, expires)

    def unregister(self, reg_id: str, now: float) -> None:
        self._regs.unregister(reg_id, now)

    def invite(self, ref: str, account: Account, callee: str, sdp: bytes, now: float) -> None:
        """Place a call. Raises ValueError for a duplicate `ref` or a bad callee/domain."""
        self._invites.invite(ref, account, callee, sdp, now)

    def hangup(self, ref: str, now: float, reason: str = "") -> None:
        """BYE when the call is answered, else CANCEL (an incoming one: 603 Decline).
        ``reason``: a Reason header value for the BYE (RFC 3326), e.g.
        ``SIP;cause=403;text="Wrong PIN"``."""
        call = self._calls.by_ref.get(ref)
        if call is None or call.state in ("ending", "ended"):
            return
        if call.state == "incoming":
            self._uas.reject(ref, 603, "Decline", now)
            return
        if call.state in ("confirmed", "accepted"):
            self._calls.send_bye(call, now, by_remote=False, info=INFO_NORMAL, reason=reason)
            return
        self._invites.cancel(call, now)

    # the UAS role: answers to an IncomingCall
    def ring(self, ref: str, now: float) -> None:
        self._uas.ring(ref, now)

    def accept(self, ref: str, sdp: bytes, now: float) -> None:
        """200 OK: ``sdp`` answers the peer's offer, or is our offer when it sent none."""
        self._uas.accept(ref, sdp, now)

    def reject(self, ref: str, status: int, reason: str, now: float, headers: Extra = ()) -> None:
        """A final 3xx-6xx answer, with extra ``headers`` (Warning, WWW-Authenticate...)."""
        self._uas.reject(ref, status, reason, now, headers)

    def redirect(self, ref: str, contacts: Sequence[str], now: float, status: int = 302) -> None:
        self._uas.redirect(ref, contacts, now, status)

    def answer_offer(self, ref: str, sdp: bytes | None, now: float) -> None:
        """Answer the peer's pending re-INVITE/UPDATE (RemoteOffer); None refuses it (488)."""
        self._dialogs.answer_offer(ref, sdp, now)

    def send_info(self, ref: str, content_type: str, body: bytes, now: float) -> None:
        self._calls.send_info(ref, content_type, body, now)

    def send_dtmf_info(
        self,
        ref: str,
        wcs_type: str,
        digits: str,
        now: float,
        *,
        tone_ms: int | None = None,
        settings: DtmfSettings | None = None,
    ) -> None:
        """Queue keys to send by INFO (``wcs_type`` INFO: dtmf-relay, INFO_RELAY:
        application/dtmf), one at a time; each answer is a DtmfInfoSent event. DtmfError for
        bad keys, InCallError when the call is not established."""
        self._in_call.send_dtmf(ref, wcs_type, digits, tone_ms, settings or DtmfSettings(), now)

    def reinvite(self, ref: str, sdp: bytes, now: float) -> None:
        """Send our new offer (hold, unhold): RemoteAnswer then OfferAnswered; InCallError
        when the call is not established or an offer is in progress."""
        self._in_call.reinvite(ref, sdp, now)

    def refer(self, ref: str, target: SipUri, now: float) -> None:
        """Blind transfer: TransferUpdate events follow; InCallError as for reinvite."""
        self._in_call.refer(ref, target, now)

    @property
    def allow_refer(self) -> bool:
        """The peer's REFER: accepted (ReferReceived) when True, else 603 Decline."""
        return self._in_call.allow_refer

    @allow_refer.setter
    def allow_refer(self, allow: bool) -> None:
        self._in_call.allow_refer = allow

    def notify_refer(self, ref: str, status: int, reason: str, now: float) -> None:
        """Progress of the call the peer's REFER asked for (NOTIFY message/sipfrag)."""
        self._in_call.notify_refer(ref, status, reason, now)

    def shutdown(self, now: float) -> None:
        for ref in list(self._calls.by_ref):
            self.hangup(ref, now)
        for reg_id in list(self._regs.regs):
            self.unregister(reg_id, now)

    def active(self) -> bool:
        if self._calls.by_ref or self._regs.regs:
            return True
        return any(
            tx.state in (State.CALLING, State.TRYING, State.PROCEEDING)
            for tx in self._ep.client_txs.values()
        )

    def dialog_hosts(self) -> set[str]:
        """Hosts of the remote targets of live dialogs (their TCP connections stay open)."""
        return {
            c.dialog.remote_target.host
            for c in self._calls.by_ref.values()
            if c.dialog is not None and c.state not in ("ended",)
        }

    def call_info(self, ref: str) -> CallInfo | None:
        return self._calls.info(ref)

    # ---- routing of what arrives --------------------------------------------------------

    def _on_response(self, resp: SipResponse, now: float) -> None:
        vias = resp.headers.get_all("Via")
        if not vias:
            raise SipParseError("response without Via")
        via = Via.parse(vias[0])
        _, method = resp.cseq
        tx = self._ep.client_txs.get((via.branch or "", method))
        if tx is not None:
            tx.receive(resp, now)
            return
        if method == "INVITE" and 200 <= resp.status < 300:
            self._invites.stray_2xx(resp, now)

    def _on_request(
        self, req: SipRequest, addr: tuple[str, int], transport: str, now: float
    ) -> None:
        ep = self._ep
        vias = req.headers.get_all("Via")
        if not vias:
            log.debug("request without Via from %s dropped", addr)
            MALFORMED.inc()
            return
        via = Via.parse(vias[0])
        stamp_via(via, addr)
        req.headers.set_all("Via", [str(via), *vias[1:]])
        if transport == "udp":
            dest: Dest = (*via.response_address(), transport)
        else:
            dest = (addr[0], addr[1], transport)  # §18.2.2: back over the same connection
        problem = validate(req)
        if problem is not None:
            MALFORMED.inc()
            log.debug("bad request from %s: %s", addr, problem)
            if req.method != "ACK":
                h = Headers()
                h.set_all("Via", req.headers.get_all("Via"))
                for name in ("From", "To", "Call-ID", "CSeq"):
                    h.add(name, req.headers.get(name) or "")
                ep.send(SipResponse(400, f"Bad Request - {problem}"[:120], h).serialize(), dest)
            return
        key = server_key(req)
        stx = ep.server_txs.get(key)
        if stx is not None:
            stx.receive_retransmission(req, now)
            return
        if req.method == "ACK":
            if not self._uas.on_ack(req, now):
                self._dialogs.on_ack(req, now)
            return
        stx = ServerTransaction(
            req,
            dest,
            ep.layer,
            on_terminated=lambda t: ep.server_txs.pop(t.key, None),
        )
        ep.server_txs[key] = stx
        if req.method == "CANCEL":
            if not self._uas.on_cancel(req, stx, now):
                self._dialogs.on_cancel(req, stx, now)
            return
        unsupported = [
            o for o in req.headers.get_all("Require") if o.lower() not in SUPPORTED_OPTIONS
        ]
        if unsupported:
            resp = ep.response(req, 420, "Bad Extension")
            resp.headers.add("Unsupported", ", ".join(unsupported))
            stx.respond(resp, now)
            return
        to_tag = NameAddr.parse(req.headers.get("To") or "").tag
        if to_tag:
            self._dialogs.request(req, stx, to_tag, now)
        else:
            self._out_of_dialog_request(req, stx, addr, now)

    def _out_of_dialog_request(
        self, req: SipRequest, stx: ServerTransaction, addr: tuple[str, int], now: float
    ) -> None:
        response = self._ep.response
        m = req.method
        if m == "OPTIONS":
            resp = response(req, 200, "OK")
            resp.headers.add("Accept", "application/sdp")
            stx.respond(resp, now)
        elif m == "INVITE" and self.incoming:
            self._uas.on_invite(req, stx, addr, now)
        elif m == "INVITE":
            stx.respond(response(req, 603, "Decline"), now)  # the UAS role is off
        elif m in ("BYE", "INFO", "UPDATE", "PRACK"):
            stx.respond(response(req, 481, "Call/Transaction Does Not Exist"), now)
        elif m in KNOWN_METHODS:
            stx.respond(response(req, 405, "Method Not Allowed"), now)
        else:
            stx.respond(response(req, 501, "Not Implemented"), now)
