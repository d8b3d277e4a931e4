"""The SIP user agent core, sans-IO: registrations and outgoing calls (RFC 3261, 3581, 4028).

Feed it with `receive(data, addr, transport, now)` and `handle_timer(now)`, drive it with the
actions (`register`, `invite`, `hangup`, ...), and drain `datagrams_to_send`, `get_timer` and
`next_event`. Hosts are whatever the edge resolves: the core only names (host, port, transport).

Choices (where the RFCs leave room):
- REGISTER refresh at max(1, min(expires/2, expires-32)) s after the 200; a failed
  registration (or refresh) is removed after RegistrationFailed; 423 is retried once.
- 3xx: the first sip:/sips: Contact is tried once (same Call-ID, From tag and To, CSeq+1);
  a second 3xx, or one without a usable Contact, fails the call with that status.
- An incoming initial INVITE (we place calls only) is answered 603 Decline.
- A timeout (Timer B/F) gives status None and info "Failed by request timeout".
- RFC 4028: when the peer is the refresher, BYE is sent at interval - min(32, interval/3)
  with no refresh seen (§10); when we are, we refresh at interval/2 with UPDATE if the peer
  allows it, else with a re-INVITE carrying our last SDP.
- Our 2xx to a peer's re-INVITE is retransmitted (T1 doubling to T2, UDP only) until the ACK,
  and the call is ended with BYE after 64*T1 without ACK (§13.3.1.4).
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from . import auth
from .dialog import Dialog
from .errors import SipParseError
from .events import (
    CallAnswered,
    CallEnded,
    CallFailed,
    CallProgress,
    CallRinging,
    CallTrying,
    Event,
    InfoReceived,
    RegistrationEnded,
    RegistrationFailed,
    RegistrationSucceeded,
    RemoteAnswer,
    RemoteOffer,
)
from .grammar import is_token
from .message import Headers, SipMessage, SipRequest, SipResponse, parse_cseq, parse_message
from .timers import TimerQueue
from .transaction import (
    ClientTransaction,
    Dest,
    InviteClientTransaction,
    NonInviteClientTransaction,
    ServerTransaction,
    SipTimers,
    State,
    server_key,
)
from .uri import NameAddr, SipUri, format_hostport
from .via import MAGIC_COOKIE, Via

__all__ = ["Account", "CallInfo", "SipTimers", "UserAgent"]

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
SUPPORTED_OPTIONS = frozenset({"timer"})
KNOWN_METHODS = frozenset(
    {
        "INVITE",
        "ACK",
        "CANCEL",
        "BYE",
        "OPTIONS",
        "INFO",
        "UPDATE",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "REFER",
        "MESSAGE",
        "PUBLISH",
    }
)
INFO_TIMEOUT = "Failed by request timeout"
INFO_AUTH = "Authentication failed"
INFO_NORMAL = "Normal call clearing"


@dataclass(frozen=True)
class Account:
    login: str
    domain: str
    password: str = field(default="", repr=False)
    auth_name: str = ""  # digest username; "" -> login
    outbound_proxy: str = ""  # "host" or "host:port"; "" -> domain
    port: int = 5060  # port of outbound proxy/domain when not given
    transport: str = "udp"  # "udp" | "tcp"
    display_name: str = ""


@dataclass(frozen=True)
class CallInfo:
    sip_call_id: str
    local_tag: str
    remote_tag: str | None
    remote_target: str | None
    remote_sdp: bytes | None
    state: str


def _readable_address(value: str) -> str | None:
    """The From/To value to echo in a 400: as is, or without a broken display name."""
    for candidate in (value, value[value.find("<") :] if "<" in value else ""):
        if _unprintable(candidate):
            continue
        try:
            NameAddr.parse(candidate)
            return candidate
        except SipParseError:
            continue
    return None


def _unprintable(value: str) -> bool:
    return "\x00" in value or "\ufffd" in value


def _token() -> str:
    return secrets.token_hex(8)


def _split_server(text: str, default_port: int) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("sip:"):
        uri = SipUri.parse(text)
        host, port = uri.host, uri.port or default_port
    elif text.startswith("["):
        end = text.index("]")
        host = text[: end + 1]
        port = int(text[end + 2 :]) if text[end + 1 : end + 2] == ":" else default_port
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        port = int(p)
    else:
        host, port = text, default_port
    return (host[1:-1] if host.startswith("[") else host), port


def _parse_session_expires(value: str | None) -> tuple[int, str | None] | None:
    if not value:
        return None
    head, _, params = value.partition(";")
    if not head.strip().isdigit():
        return None
    refresher = None
    for p in params.split(";"):
        name, _, v = p.partition("=")
        if name.strip().lower() == "refresher":
            refresher = v.strip().lower() or None
    return int(head.strip()), refresher


class _Outgoing:
    """One logical request (with its digest retries) over successive client transactions."""

    def __init__(
        self,
        ua: UserAgent,
        request: SipRequest,
        dest: Dest,
        *,
        creds: auth.DigestCredentials | None,
        next_cseq: Callable[[], int],
        on_final: Callable[[SipResponse | None, str, float], None],
        on_provisional: Callable[[SipResponse, float], None] | None = None,
        on_retry: Callable[[SipRequest], None] | None = None,
        may_retry: Callable[[], bool] | None = None,
    ) -> None:
        self.ua = ua
        self.request = request
        self.dest = dest
        self.creds = creds
        self.next_cseq = next_cseq
        self.on_final = on_final
        self.on_provisional = on_provisional
        self.on_retry = on_retry
        self.may_retry = may_retry or (lambda: True)
        self.auth_tries = 0
        self.stale_tries = 0
        self.tx: ClientTransaction | None = None
        self.done = False

    def start(self, now: float) -> None:
        self.tx = self.ua._start_client_tx(self.request, self.dest, self._response, self._timeout)
        self.tx.start(now)

    def _timeout(self, tx: ClientTransaction, now: float) -> None:
        self.done = True
        self.on_final(None, tx.error or INFO_TIMEOUT, now)

    def _response(self, _tx: ClientTransaction, resp: SipResponse, now: float) -> None:
        if resp.status < 200:
            if self.on_provisional is not None:
                self.on_provisional(resp, now)
            return
        if resp.status in (401, 407) and self.creds is not None and self.may_retry():
            retry = self._authenticated(resp)
            if retry is not None:
                self.request = retry
                if self.on_retry is not None:
                    self.on_retry(retry)
                self.start(now)
                return
            self.done = True
            self.on_final(resp, INFO_AUTH, now)
            return
        self.done = True
        info = INFO_AUTH if resp.status == 403 else resp.reason
        self.on_final(resp, info, now)

    def _authenticated(self, resp: SipResponse) -> SipRequest | None:
        assert self.creds is not None
        proxy = resp.status == 407
        values = resp.headers.get_all("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        try:
            challenge = auth.choose_challenge(values)
        except auth.AuthError as exc:
            log.info("cannot answer challenge: %s", exc)
            return None
        if self.auth_tries == 0:
            self.auth_tries += 1
        elif challenge.stale and self.stale_tries == 0:
            self.stale_tries += 1  # stale nonce: one more try with the new one
        else:
            return None
        old = self.request
        req = SipRequest(old.method, old.uri, old.headers.copy(), old.body)
        via = old.top_via
        via.params["branch"] = MAGIC_COOKIE + _token()
        via.params.pop("received", None)
        via.params["rport"] = None
        req.headers.set_all("Via", [str(via)])
        req.headers.set("CSeq", f"{self.next_cseq()} {old.method}")
        try:
            value = self.creds.authorization(challenge, old.method, old.uri, old.body)
        except auth.AuthError as exc:
            log.info("cannot answer challenge: %s", exc)
            return None
        req.headers.set("Proxy-Authorization" if proxy else "Authorization", value)
        return req


class _Registration:
    def __init__(self, reg_id: str, account: Account, expires: int) -> None:
        self.reg_id = reg_id
        self.account = account
        self.expires = expires
        self.call_id = _token() + _token()
        self.tag = _token()
        self.cseq = 0
        self.creds = auth.DigestCredentials(account.auth_name or account.login, account.password)
        self.outgoing: _Outgoing | None = None
        self.registered = False
        self.unregistering = False
        self.wants_unregister = False
        self.retried_423 = False


class _Call:
    def __init__(self, ref: str, account: Account, uri: str, sdp: bytes) -> None:
        self.ref = ref
        self.account = account
        self.uri = uri
        self.local_sdp = sdp
        self.remote_sdp: bytes | None = None
        self.call_id = _token() + _token()
        self.tag = _token()
        self.cseq = 0
        self.creds = auth.DigestCredentials(account.auth_name or account.login, account.password)
        self.state = "calling"  # calling, proceeding, confirmed, ending, ended
        self.invite: SipRequest | None = None
        self.outgoing: _Outgoing | None = None
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
        self.refresh: _Outgoing | None = None
        self.pending: ServerTransaction | None = None  # peer's re-INVITE/UPDATE to answer
        self.pending_offerless = False
        self.pending_se: tuple[int, str] | None = None
        self.pending_timer_required = False
        self.pending_2xx: tuple[bytes, Dest, int] | None = None  # our 2xx awaiting ACK
        self.awaiting_answer_in_ack = False


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
    ) -> None:
        self.local_port = local_port  # the edge sets it when it binds port 0
        self.public_ip = public_ip
        self.user_agent = user_agent
        self.timers = timers
        self.session_expires = session_expires
        self.min_se = min_se
        self.register_expires = register_expires
        self._queue = TimerQueue()
        self._out: list[tuple[bytes, tuple[str, int], str]] = []
        self._events: deque[Event] = deque()
        self._ctx: dict[tuple[str, str], ClientTransaction] = {}
        self._stx: dict[object, ServerTransaction] = {}
        self._calls: dict[str, _Call] = {}
        self._by_call_id: dict[str, _Call] = {}
        self._regs: dict[str, _Registration] = {}
        self._reg_count = 0
        # ended calls: Call-ID -> (ACK bytes, dest, remote tag) to answer late 2xx copies
        self._lingering: dict[str, tuple[bytes, Dest, str]] = {}

    # ---- sans-IO plumbing ---------------------------------------------------------------

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, tuple[str, int], str]]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        return self._queue.next()

    def handle_timer(self, now: float) -> None:
        try:
            self._queue.fire(now)
        except Exception:  # a bug must not stop the other calls' timers
            log.exception("SIP timer handler failed")

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def receive(self, data: bytes, addr: tuple[str, int], transport: str, now: float) -> None:
        try:
            msg = parse_message(data, stream=transport != "udp")
        except SipParseError as exc:
            self._malformed(data, addr, transport, str(exc))
            return
        try:
            if isinstance(msg, SipRequest):
                self._on_request(msg, addr, transport, now)
            else:
                self._on_response(msg, now)
        except SipParseError as exc:
            log.info("dropped SIP message from %s: %s", addr, exc)
        except Exception:
            log.exception("SIP message handling failed")

    def _send(self, data: bytes, dest: Dest) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "SIP out to %s: %s", dest, data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
            )
        self._out.append((data, (dest[0], dest[1]), dest[2]))

    def _emit(self, event: Event) -> None:
        self._events.append(event)

    def transport_error(
        self, addr: tuple[str, int], transport: str, reason: str, now: float
    ) -> None:
        """Called by the edge when it cannot reach `addr` (DNS or TCP connect failure):
        the requests waiting for it fail at once, with `reason` as info."""
        for tx in list(self._ctx.values()):
            if (tx.dest[0], tx.dest[1]) == addr and tx.dest[2] == transport:
                tx.transport_failed(reason, now)

    # ---- public actions -----------------------------------------------------------------

    def register(self, account: Account, now: float) -> str:
        self._reg_count += 1
        reg_id = f"reg-{self._reg_count}"
        reg = _Registration(reg_id, account, self.register_expires)
        self._regs[reg_id] = reg
        self._send_register(reg, reg.expires, now)
        return reg_id

    def unregister(self, reg_id: str, now: float) -> None:
        reg = self._regs.get(reg_id)
        if reg is None or reg.unregistering:
            return
        self._queue.cancel(("reg", reg_id))
        if reg.outgoing is not None and not reg.outgoing.done:
            reg.wants_unregister = True  # §10.2: one REGISTER at a time per Call-ID
            return
        reg.unregistering = True
        self._send_register(reg, 0, now)

    def invite(self, ref: str, account: Account, callee: str, sdp: bytes, now: float) -> None:
        """Place a call. Raises ValueError for a duplicate `ref` or a bad callee/domain."""
        if ref in self._calls:
            raise ValueError(f"call {ref!r} exists")
        callee = callee.strip()
        if callee.lower().startswith(("sip:", "sips:")):
            uri = SipUri.parse(callee)
        else:
            uri = SipUri(host=account.domain, user=callee)
        if (
            account.transport == "tcp"
            and not account.outbound_proxy
            and "transport" not in uri.params
        ):
            uri.params["transport"] = "tcp"
        SipUri.parse(str(uri))  # raises SipParseError (a ValueError) for a bad callee/domain
        call = _Call(ref, account, str(uri), sdp)
        call.session_expires = max(self.session_expires, self.min_se) if self.session_expires else 0
        call.min_se = self.min_se
        self._calls[ref] = call
        self._by_call_id[call.call_id] = call
        self._send_invite(call, now)

    def hangup(self, ref: str, now: float) -> None:
        call = self._calls.get(ref)
        if call is None or call.state in ("ending", "ended"):
            return
        if call.state == "confirmed":
            self._send_bye(call, now, by_remote=False, info=INFO_NORMAL)
            return
        call.cancel_requested = True
        # guard: the INVITE is given 64*T1 to end after CANCEL (§9.1)
        self._queue.set(
            ("cancel", ref), now + 64 * self.timers.t1, lambda n: self._cancel_guard(call, n)
        )
        if call.state == "proceeding":
            self._send_cancel(call, now)
        # in "calling" the CANCEL waits for a provisional response (§9.1)

    def answer_offer(self, ref: str, sdp: bytes | None, now: float) -> None:
        call = self._calls.get(ref)
        if call is None or call.pending is None:
            log.info("answer_offer for %s with no pending offer", ref)
            return
        stx = call.pending
        call.pending = None
        req = stx.request
        if sdp is None:
            stx.respond(self._response(req, 488, "Not Acceptable Here"), now)
            return
        resp = self._response(req, 200, "OK", body=sdp, contact=True, account=call.account)
        resp.headers.add("Content-Type", "application/sdp")
        self._add_session_timer_to_response(call, resp)
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
                self._retransmit_2xx(call, number, self.timers.t1, now)
            self._queue.set(
                ("2xx-h", ref), now + 64 * self.timers.t1, lambda n: self._no_ack(call, n)
            )
        self._arm_session_timer(call, now)

    def send_info(self, ref: str, content_type: str, body: bytes, now: float) -> None:
        call = self._calls.get(ref)
        if call is None or call.dialog is None or call.state != "confirmed":
            return
        req = self._in_dialog(call, "INFO")
        req.headers.add("Content-Type", content_type)
        req.body = body

        def final(resp: SipResponse | None, info: str, n: float) -> None:
            if resp is None or resp.status in (408, 481):
                self._send_bye(call, n, by_remote=False, info=info if resp is None else resp.reason)

        self._dialog_request(call, req, final, now)

    def shutdown(self, now: float) -> None:
        for ref in list(self._calls):
            self.hangup(ref, now)
        for reg_id in list(self._regs):
            self.unregister(reg_id, now)

    def active(self) -> bool:
        if self._calls or self._regs:
            return True
        return any(
            tx.state in (State.CALLING, State.TRYING, State.PROCEEDING) for tx in self._ctx.values()
        )

    def call_info(self, ref: str) -> CallInfo | None:
        call = self._calls.get(ref)
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

    # ---- building blocks ----------------------------------------------------------------

    def _account_dest(self, account: Account) -> Dest:
        host, port = _split_server(account.outbound_proxy or account.domain, account.port)
        return host, port, account.transport

    def _via(self, transport: str) -> str:
        hostport = format_hostport(self.public_ip, self.local_port)
        return f"SIP/2.0/{transport.upper()} {hostport};branch={MAGIC_COOKIE}{_token()};rport"

    def _contact(self, account: Account) -> str:
        uri = SipUri(host=self.public_ip, port=self.local_port, user=account.login)
        if ":" in uri.host and not uri.host.startswith("["):
            uri.host = f"[{uri.host}]"
        if account.transport == "tcp":
            uri.params["transport"] = "tcp"
        return f"<{uri}>"

    def _aor(self, account: Account) -> SipUri:
        return SipUri(host=account.domain, user=account.login)

    def _from(self, account: Account, tag: str) -> str:
        display = account.display_name or None
        return str(NameAddr(self._aor(account), display, {"tag": tag}))

    def _start_client_tx(
        self,
        request: SipRequest,
        dest: Dest,
        on_response: Callable[[ClientTransaction, SipResponse, float], None],
        on_timeout: Callable[[ClientTransaction, float], None],
    ) -> ClientTransaction:
        cls = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
        tx = cls(
            request,
            dest,
            timers=self.timers,
            queue=self._queue,
            send=self._send,
            on_response=on_response,
            on_timeout=on_timeout,
            on_terminated=lambda t: self._ctx.pop(t.key, None),
        )
        self._ctx[tx.key] = tx
        return tx

    def _new_request(self, method: str, uri: str, account: Account, transport: str) -> SipRequest:
        h = Headers()
        h.add("Via", self._via(transport))
        h.add("Max-Forwards", "70")
        return SipRequest(method, uri, h)

    def _common_headers(self, req: SipRequest) -> None:
        req.headers.add("User-Agent", self.user_agent)

    def _response(
        self,
        req: SipRequest,
        status: int,
        reason: str,
        *,
        body: bytes = b"",
        contact: bool = False,
        account: Account | None = None,
        to_tag: str | None = None,
    ) -> SipResponse:
        """§8.2.6.2: a response copies Via, From, To (tag added), Call-ID and CSeq."""
        h = Headers()
        h.set_all("Via", req.headers.get_all("Via"))
        h.add("From", req.headers.get("From") or "")
        to = req.headers.get("To") or ""
        if status > 100 and ";tag=" not in to.replace(" ", "").lower():
            to = f"{to};tag={to_tag or _token()}"
        h.add("To", to)
        h.add("Call-ID", req.call_id)
        h.add("CSeq", req.headers.get("CSeq") or "")
        if contact and account is not None:
            h.add("Contact", self._contact(account))
        h.add("Server", self.user_agent)
        if status in (200, 405) or status == 501:
            h.add("Allow", ALLOW)
        if status == 200:
            h.add("Supported", "timer")
        return SipResponse(status, reason, h, body)

    # ---- registration -------------------------------------------------------------------

    def _send_register(self, reg: _Registration, expires: int, now: float) -> None:
        acc = reg.account
        dest = self._account_dest(acc)
        uri = SipUri(host=acc.domain)
        if acc.transport == "tcp" and not acc.outbound_proxy:
            uri.params["transport"] = "tcp"
        req = self._new_request("REGISTER", str(uri), acc, acc.transport)
        aor = self._aor(acc)
        req.headers.add("From", self._from(acc, reg.tag))
        req.headers.add("To", str(NameAddr(aor, acc.display_name or None)))
        req.headers.add("Call-ID", reg.call_id)
        reg.cseq += 1
        req.headers.add("CSeq", f"{reg.cseq} REGISTER")
        req.headers.add("Contact", self._contact(acc))
        req.headers.add("Expires", str(expires))
        req.headers.add("Allow", ALLOW)
        self._common_headers(req)

        def next_cseq() -> int:
            reg.cseq += 1
            return reg.cseq

        reg.outgoing = _Outgoing(
            self,
            req,
            dest,
            creds=reg.creds,
            next_cseq=next_cseq,
            on_final=lambda resp, info, n: self._register_final(reg, expires, resp, info, n),
        )
        reg.outgoing.start(now)

    def _register_final(
        self, reg: _Registration, asked: int, resp: SipResponse | None, info: str, now: float
    ) -> None:
        if asked == 0:
            self._regs.pop(reg.reg_id, None)
            self._emit(RegistrationEnded(reg.reg_id))
            return
        if resp is not None and resp.status == 423 and not reg.retried_423:
            min_expires = (resp.headers.get("Min-Expires") or "").strip()
            if min_expires.isdigit():
                reg.retried_423 = True
                reg.expires = int(min_expires)
                self._send_register(reg, reg.expires, now)
                return
        if resp is not None and 200 <= resp.status < 300:
            expires = self._granted_expires(reg, resp, asked)
            reg.registered = True
            reg.retried_423 = False
            self._emit(RegistrationSucceeded(reg.reg_id, expires))
            if reg.wants_unregister:
                reg.wants_unregister = False
                reg.unregistering = True
                self._send_register(reg, 0, now)
                return
            delay = max(1.0, min(expires / 2, expires - 32))
            self._queue.set(
                ("reg", reg.reg_id), now + delay, lambda n: self._refresh_register(reg, n)
            )
            return
        self._regs.pop(reg.reg_id, None)
        self._queue.cancel(("reg", reg.reg_id))
        status = resp.status if resp is not None else None
        reason = resp.reason if resp is not None else "Request Timeout"
        self._emit(RegistrationFailed(reg.reg_id, status, reason, info))
        if reg.wants_unregister:
            self._emit(RegistrationEnded(reg.reg_id))

    def _refresh_register(self, reg: _Registration, now: float) -> None:
        if reg.reg_id in self._regs and not reg.unregistering:
            self._send_register(reg, reg.expires, now)

    def _granted_expires(self, reg: _Registration, resp: SipResponse, asked: int) -> int:
        ours = NameAddr.parse(self._contact(reg.account)).uri
        for value in resp.headers.get_all("Contact"):
            try:
                c = NameAddr.parse(value)
            except SipParseError:
                continue
            same = (c.uri.user, c.uri.host, c.uri.port or 5060) == (
                ours.user,
                ours.host,
                ours.port or 5060,
            )
            exp = c.params.get("expires")
            if same and exp is not None and exp.isdigit():
                return int(exp)
        header = (resp.headers.get("Expires") or "").strip()
        return int(header) if header.isdigit() else asked

    # ---- outgoing call ------------------------------------------------------------------

    def _send_invite(self, call: _Call, now: float) -> None:
        acc = call.account
        dest = self._account_dest(acc)
        req = self._new_request("INVITE", call.uri, acc, acc.transport)
        if acc.outbound_proxy and _split_server(acc.outbound_proxy, acc.port)[0] != acc.domain:
            host, port = _split_server(acc.outbound_proxy, acc.port)
            route = SipUri(host=host, port=port, params={"lr": None})
            if acc.transport == "tcp":
                route.params = {"transport": "tcp", "lr": None}
            req.headers.add("Route", f"<{route}>")
        req.headers.add("From", self._from(acc, call.tag))
        to_uri = SipUri.parse(call.to)
        to_uri.params.pop("transport", None)
        req.headers.add("To", f"<{to_uri}>")
        req.headers.add("Call-ID", call.call_id)
        call.cseq += 1
        req.headers.add("CSeq", f"{call.cseq} INVITE")
        req.headers.add("Contact", self._contact(acc))
        req.headers.add("Allow", ALLOW)
        req.headers.add("Supported", "timer")
        if call.session_expires:
            req.headers.add("Session-Expires", str(call.session_expires))
            req.headers.add("Min-SE", str(call.min_se))
        self._common_headers(req)
        req.headers.add("Content-Type", "application/sdp")
        req.body = call.local_sdp
        call.invite = req

        def next_cseq() -> int:
            call.cseq += 1
            return call.cseq

        def retried(r: SipRequest) -> None:
            call.invite = r

        call.outgoing = _Outgoing(
            self,
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

    def _invite_provisional(self, call: _Call, resp: SipResponse, now: float) -> None:
        if call.state == "calling":
            call.state = "proceeding"
        if call.cancel_requested and not call.cancel_sent:
            self._send_cancel(call, now)
        sdp = resp.body or None
        if resp.status == 100:
            self._emit(CallTrying(call.ref, 100, raw=resp))
        elif resp.status in (180, 181, 182):
            self._emit(CallRinging(call.ref, resp.status, resp.reason, sdp, raw=resp))
        else:
            self._emit(CallProgress(call.ref, resp.status, resp.reason, sdp, raw=resp))
        if sdp is not None:
            call.remote_sdp = sdp

    def _invite_final(self, call: _Call, resp: SipResponse | None, info: str, now: float) -> None:
        self._queue.cancel(("cancel", call.ref))
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
            target = self._redirect_target(resp)
            if target is not None:
                call.redirected = True
                call.uri = target
                self._send_invite(call, now)
                return
        status = resp.status if resp is not None else None
        reason = resp.reason if resp is not None else "Request Timeout"
        if call.cancel_requested:
            self._end_call(call, CallEnded(call.ref, False, status, INFO_NORMAL, raw=resp), now)
        else:
            self._end_call(call, CallFailed(call.ref, status, reason, info, raw=resp), now)

    def _redirect_target(self, resp: SipResponse) -> str | None:
        for value in resp.headers.get_all("Contact"):
            try:
                uri = NameAddr.parse(value).uri
            except SipParseError:
                continue  # e.g. a tel: URI: try the next one
            uri.headers.clear()  # §19.1.5 headers in a redirect are not taken over
            return str(uri)
        return None

    def _invite_2xx(self, call: _Call, resp: SipResponse, now: float) -> None:
        assert call.invite is not None
        try:
            dialog = Dialog.from_uac(call.invite, resp)
        except SipParseError as exc:
            log.info("bad 2xx for %s: %s", call.ref, exc)
            self._end_call(
                call, CallFailed(call.ref, resp.status, resp.reason, f"Bad 2xx: {exc}"), now
            )
            return
        call.dialog = dialog
        call.state = "confirmed"
        if resp.body:
            call.remote_sdp = resp.body
        dest = self._dialog_dest(call)
        ack = dialog.ack(call.invite.cseq[0])
        ack.headers.insert("Via", self._via(dest[2]))
        self._copy_auth(call.invite, ack)
        self._common_headers(ack)
        data = ack.serialize()
        call.ack = (data, dest)
        call.ack_cseq = call.invite.cseq[0]
        self._send(data, dest)
        allow = {m.upper() for m in resp.headers.get_all("Allow")}
        call.peer_allows_update = "UPDATE" in allow
        if call.cancel_requested:
            self._send_bye(call, now, by_remote=False, info=INFO_NORMAL)
            return
        self._emit(CallAnswered(call.ref, resp.status, resp.reason, resp.body or None, raw=resp))
        self._session_timer_from_2xx(call, resp, now)

    def _copy_auth(self, src: SipRequest, dst: SipRequest) -> None:
        # §22: a proxy may want the credentials on the ACK too; same nonce is fine there
        for name in ("Proxy-Authorization",):
            value = src.headers.get(name)
            if value is not None:
                dst.headers.add(name, value)

    def _send_cancel(self, call: _Call, now: float) -> None:
        invite = call.invite
        if invite is None or call.cancel_sent:
            return
        call.cancel_sent = True
        h = Headers()
        h.add("Via", invite.headers.get_all("Via")[0])
        for route in invite.headers.get_all("Route"):
            h.add("Route", route)
        h.add("Max-Forwards", "70")
        h.add("From", invite.headers.get("From") or "")
        h.add("To", invite.headers.get("To") or "")
        h.add("Call-ID", invite.call_id)
        h.add("CSeq", f"{invite.cseq[0]} CANCEL")
        req = SipRequest("CANCEL", invite.uri, h)
        self._common_headers(req)
        dest = call.outgoing.dest if call.outgoing else self._account_dest(call.account)
        out = _Outgoing(
            self,
            req,
            dest,
            creds=None,
            next_cseq=lambda: invite.cseq[0],
            on_final=lambda resp, info, n: None,
        )
        out.start(now)

    def _cancel_guard(self, call: _Call, now: float) -> None:
        if call.state in ("calling", "proceeding"):
            if call.outgoing is not None and call.outgoing.tx is not None:
                call.outgoing.done = True
                call.outgoing.tx.terminate()
            self._end_call(call, CallEnded(call.ref, False, None, INFO_NORMAL), now)

    def _end_call(self, call: _Call, event: Event, now: float) -> None:
        if call.state == "ended":
            return
        call.state = "ended"
        for name in ("cancel", "st-refresh", "st-expire", "2xx-g", "2xx-h"):
            self._queue.cancel((name, call.ref))
        self._calls.pop(call.ref, None)
        self._by_call_id.pop(call.call_id, None)
        if call.ack is not None and call.dialog is not None:
            self._lingering[call.call_id] = (call.ack[0], call.ack[1], call.dialog.remote_tag)
            cid = call.call_id
            self._queue.set(
                ("linger", cid),
                now + 64 * self.timers.t1,
                lambda _n: self._lingering.pop(cid, None),
            )
        self._emit(event)

    # ---- dialog requests ----------------------------------------------------------------

    def _dialog_dest(self, call: _Call) -> Dest:
        acc = call.account
        if acc.outbound_proxy:
            return self._account_dest(acc)
        assert call.dialog is not None
        hop = call.dialog.next_hop()
        host = hop.host[1:-1] if hop.host.startswith("[") else hop.host
        transport = hop.params.get("transport") or acc.transport
        return host, hop.port or 5060, transport.lower()

    def _in_dialog(self, call: _Call, method: str) -> SipRequest:
        assert call.dialog is not None
        req = call.dialog.request(method)
        dest = self._dialog_dest(call)
        req.headers.insert("Via", self._via(dest[2]))
        self._common_headers(req)
        return req

    def _dialog_request(
        self,
        call: _Call,
        req: SipRequest,
        on_final: Callable[[SipResponse | None, str, float], None],
        now: float,
    ) -> _Outgoing:
        dialog = call.dialog
        assert dialog is not None
        out = _Outgoing(
            self,
            req,
            self._dialog_dest(call),
            creds=call.creds,
            next_cseq=dialog.next_cseq,
            on_final=on_final,
        )
        out.start(now)
        return out

    def _send_bye(self, call: _Call, now: float, *, by_remote: bool, info: str) -> None:
        if call.dialog is None or call.state in ("ending", "ended"):
            return
        call.state = "ending"
        for name in ("st-refresh", "st-expire", "2xx-g", "2xx-h"):
            self._queue.cancel((name, call.ref))
        if call.pending is not None:  # a peer offer the app never answered
            call.pending.respond(
                self._response(call.pending.request, 487, "Request Terminated"), now
            )
            call.pending = None
        req = self._in_dialog(call, "BYE")

        def final(resp: SipResponse | None, _info: str, n: float) -> None:
            status = resp.status if resp is not None else None
            self._end_call(call, CallEnded(call.ref, by_remote, status, info, raw=resp), n)

        self._dialog_request(call, req, final, now)

    # ---- session timer (RFC 4028) -------------------------------------------------------

    def _session_timer_from_2xx(self, call: _Call, resp: SipResponse, now: float) -> None:
        se = _parse_session_expires(resp.headers.get("Session-Expires"))
        if se is None:
            call.se_interval = 0  # §7.2: no Session-Expires in the 2xx: no expiration
            self._queue.cancel(("st-refresh", call.ref))
            self._queue.cancel(("st-expire", call.ref))
            return
        call.se_interval = se[0]
        call.we_refresh = (se[1] or "uac") == "uac"
        self._arm_session_timer(call, now)

    def _arm_session_timer(self, call: _Call, now: float) -> None:
        self._queue.cancel(("st-refresh", call.ref))
        self._queue.cancel(("st-expire", call.ref))
        interval = call.se_interval
        if interval <= 0 or call.state != "confirmed":
            return
        if call.we_refresh:
            self._queue.set(
                ("st-refresh", call.ref),
                now + interval / 2,
                lambda n: self._session_refresh(call, n),
            )
        else:
            at = now + interval - min(32, interval / 3)
            self._queue.set(("st-expire", call.ref), at, lambda n: self._session_expired(call, n))

    def _session_expired(self, call: _Call, now: float) -> None:
        self._send_bye(call, now, by_remote=False, info="Session timer expired")

    def _session_refresh(self, call: _Call, now: float) -> None:
        if call.state != "confirmed" or call.dialog is None:
            return
        if call.pending is not None or call.refresh is not None:
            # an offer/answer is in progress: try again shortly
            self._queue.set(
                ("st-refresh", call.ref), now + 2.0, lambda n: self._session_refresh(call, n)
            )
            return
        method = "UPDATE" if call.peer_allows_update else "INVITE"
        req = self._in_dialog(call, method)
        req.headers.add("Contact", self._contact(call.account))
        req.headers.add("Supported", "timer")
        req.headers.add("Session-Expires", f"{call.se_interval};refresher=uac")
        req.headers.add("Min-SE", str(call.min_se))
        if method == "INVITE":
            req.headers.add("Allow", ALLOW)
            req.headers.add("Content-Type", "application/sdp")
            req.body = call.local_sdp
        self._queue.set(
            ("st-expire", call.ref),
            now + call.se_interval - min(32, call.se_interval / 3),
            lambda n: self._session_expired(call, n),
        )

        def final(resp: SipResponse | None, info: str, n: float) -> None:
            call.refresh = None
            if call.state != "confirmed":
                return
            if resp is None or resp.status in (408, 481):
                self._send_bye(call, n, by_remote=False, info="Session refresh failed")
                return
            if method == "INVITE" and resp.status < 300:
                self._ack_reinvite(call, req, resp)
            if resp.status < 300:
                if call.dialog is not None:
                    call.dialog.update_target(resp)
                self._session_timer_from_2xx(call, resp, n)
            elif resp.status == 422:
                value = (resp.headers.get("Min-SE") or "").split(";")[0].strip()
                if value.isdigit():
                    call.se_interval = max(call.se_interval, int(value))
                    call.min_se = call.se_interval
                self._session_refresh(call, n)
            else:
                self._queue.set(
                    ("st-refresh", call.ref), n + 2.0, lambda m: self._session_refresh(call, m)
                )

        call.refresh = self._dialog_request(call, req, final, now)

    def _ack_reinvite(self, call: _Call, invite: SipRequest, resp: SipResponse) -> None:
        assert call.dialog is not None
        ack = call.dialog.ack(invite.cseq[0])
        dest = self._dialog_dest(call)
        ack.headers.insert("Via", self._via(dest[2]))
        self._common_headers(ack)
        data = ack.serialize()
        call.ack = (data, dest)
        call.ack_cseq = invite.cseq[0]
        self._send(data, dest)

    def _add_session_timer_to_response(self, call: _Call, resp: SipResponse) -> None:
        if call.pending_se is not None:
            interval, refresher = call.pending_se
            resp.headers.add("Session-Expires", f"{interval};refresher={refresher}")
            if call.pending_timer_required:
                resp.headers.add("Require", "timer")
            call.se_interval = interval
            call.we_refresh = refresher == "uas"
        else:
            call.se_interval = 0

    # ---- incoming responses -------------------------------------------------------------

    def _on_response(self, resp: SipResponse, now: float) -> None:
        vias = resp.headers.get_all("Via")
        if not vias:
            raise SipParseError("response without Via")
        via = Via.parse(vias[0])
        _, method = resp.cseq
        tx = self._ctx.get((via.branch or "", method))
        if tx is not None:
            tx.receive(resp, now)
            return
        if method == "INVITE" and 200 <= resp.status < 300:
            self._stray_2xx(resp, now)

    def _stray_2xx(self, resp: SipResponse, now: float) -> None:
        """A 2xx retransmission (the transaction is gone): ACK it again (§13.2.2.4)."""
        to_tag = NameAddr.parse(resp.headers.get("To") or "").tag or ""
        call = self._by_call_id.get(resp.call_id)
        if call is not None and call.dialog is not None and call.ack is not None:
            if to_tag == call.dialog.remote_tag and resp.cseq[0] == call.ack_cseq:
                self._send(*call.ack)
                return
            if to_tag != call.dialog.remote_tag and call.invite is not None:
                self._ack_and_bye_fork(call, resp, now)
            return
        lingering = self._lingering.get(resp.call_id)
        if lingering is not None and lingering[2] == to_tag:
            self._send(lingering[0], lingering[1])

    def _ack_and_bye_fork(self, call: _Call, resp: SipResponse, now: float) -> None:
        """A second forked 2xx: confirm it and hang it up at once (§13.2.2.4)."""
        assert call.invite is not None
        fork = Dialog.from_uac(call.invite, resp)
        dest = self._dialog_dest(call)
        ack = fork.ack(call.invite.cseq[0])
        ack.headers.insert("Via", self._via(dest[2]))
        self._send(ack.serialize(), dest)
        bye = fork.request("BYE")
        bye.headers.insert("Via", self._via(dest[2]))
        out = _Outgoing(
            self, bye, dest, creds=None, next_cseq=fork.next_cseq, on_final=lambda r, i, n: None
        )
        out.start(now)

    # ---- incoming requests --------------------------------------------------------------

    def _malformed(self, data: bytes, addr: tuple[str, int], transport: str, error: str) -> None:
        """Answer 400 when the essentials can still be read (§21.4.1), else drop."""
        log.info("malformed SIP message from %s: %s", addr, error)
        text = data.decode("utf-8", "replace").replace("\r\n", "\n").lstrip("\n")
        lines = text.split("\n\n", 1)[0].split("\n")
        first = lines[0].split(" ")
        if len(first) != 3 or not first[2].startswith("SIP/") or first[0] in ("ACK", "SIP/2.0"):
            return
        if not is_token(first[0]):
            return  # not even a request line: nothing to answer
        # §8.2.6.1 / §21.5.20: another SIP version is answered 505, everything else 400
        status = 505 if first[2] != "SIP/2.0" else 400
        wanted = {
            "via": "Via",
            "v": "Via",
            "from": "From",
            "f": "From",
            "to": "To",
            "t": "To",
            "call-id": "Call-ID",
            "i": "Call-ID",
            "cseq": "CSeq",
        }
        found: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            key = wanted.get(name.strip().lower())
            if colon and key and key not in found:
                found[key] = value.strip()
        if len(found) < 5 or not found["Call-ID"]:
            return  # §8.2.6: without the identifiers no useful answer can be built
        if any(_unprintable(found[k]) for k in ("Via", "Call-ID", "CSeq")):
            return  # echoing NULs or undecodable bytes would make our answer malformed too
        try:
            via = Via.parse(found["Via"].split(",")[0])
        except SipParseError:
            return
        from_, to = _readable_address(found["From"]), _readable_address(found["To"])
        if from_ is None or to is None:
            return
        try:
            parse_cseq(found["CSeq"])
            cseq = found["CSeq"]
        except SipParseError:
            cseq = f"0 {first[0]}"  # the request's own CSeq is unreadable: still a valid answer
        h = Headers()
        self._stamp_via(via, addr)
        h.add("Via", str(via))
        h.add("From", from_)
        h.add("To", to if "tag=" in to else f"{to};tag={_token()}")  # §8.2.6.2
        h.add("Call-ID", found["Call-ID"])
        h.add("CSeq", cseq)
        h.add("Server", self.user_agent)
        if status == 505:
            reason = "Version Not Supported"
        else:
            reason = ("Bad Request - " + error.replace("\r", " ").replace("\n", " "))[:120]
        resp = SipResponse(status, reason, h)
        host, port = via.response_address()
        self._send(resp.serialize(), (host, port, transport))

    def _stamp_via(self, via: Via, addr: tuple[str, int]) -> None:
        """§18.2.1 + RFC 3581 §4: record where the request really came from."""
        host = via.host[1:-1] if via.host.startswith("[") else via.host
        if "rport" in via.params:
            via.params["rport"] = str(addr[1])
            via.params["received"] = addr[0]
        elif host != addr[0]:
            via.params["received"] = addr[0]

    def _validate(self, req: SipRequest) -> str | None:
        try:
            NameAddr.parse(req.headers.get("From") or "")
            NameAddr.parse(req.headers.get("To") or "")
            _number, method = req.cseq
        except SipParseError as exc:
            return str(exc)
        if not req.call_id:
            return "missing Call-ID"
        if method != req.method:
            return f"CSeq method {method} does not match {req.method}"
        return None

    def _on_request(
        self, req: SipRequest, addr: tuple[str, int], transport: str, now: float
    ) -> None:
        vias = req.headers.get_all("Via")
        if not vias:
            log.info("request without Via from %s dropped", addr)
            return
        via = Via.parse(vias[0])
        self._stamp_via(via, addr)
        req.headers.set_all("Via", [str(via), *vias[1:]])
        if transport == "udp":
            dest: Dest = (*via.response_address(), transport)
        else:
            dest = (addr[0], addr[1], transport)  # §18.2.2: back over the same connection
        problem = self._validate(req)
        if problem is not None:
            if req.method != "ACK":
                h = Headers()
                h.set_all("Via", req.headers.get_all("Via"))
                for name in ("From", "To", "Call-ID", "CSeq"):
                    h.add(name, req.headers.get(name) or "")
                self._send(SipResponse(400, f"Bad Request - {problem}"[:120], h).serialize(), dest)
            return
        key = server_key(req)
        stx = self._stx.get(key)
        if stx is not None:
            stx.receive_retransmission(req, now)
            return
        if req.method == "ACK":
            self._on_ack(req, now)
            return
        stx = ServerTransaction(
            req,
            dest,
            timers=self.timers,
            queue=self._queue,
            send=self._send,
            on_terminated=lambda t: self._stx.pop(t.key, None),
        )
        self._stx[key] = stx
        if req.method == "CANCEL":
            self._on_cancel(req, stx, now)
            return
        unsupported = [
            o for o in req.headers.get_all("Require") if o.lower() not in SUPPORTED_OPTIONS
        ]
        if unsupported:
            resp = self._response(req, 420, "Bad Extension")
            resp.headers.add("Unsupported", ", ".join(unsupported))
            stx.respond(resp, now)
            return
        to_tag = NameAddr.parse(req.headers.get("To") or "").tag
        if to_tag:
            self._in_dialog_request(req, stx, to_tag, now)
        else:
            self._out_of_dialog_request(req, stx, now)

    def _out_of_dialog_request(self, req: SipRequest, stx: ServerTransaction, now: float) -> None:
        m = req.method
        if m == "OPTIONS":
            resp = self._response(req, 200, "OK")
            resp.headers.add("Accept", "application/sdp")
            stx.respond(resp, now)
        elif m == "INVITE":
            stx.respond(self._response(req, 603, "Decline"), now)  # we place calls only
        elif m in ("BYE", "INFO", "UPDATE", "PRACK"):
            stx.respond(self._response(req, 481, "Call/Transaction Does Not Exist"), now)
        elif m in KNOWN_METHODS:
            stx.respond(self._response(req, 405, "Method Not Allowed"), now)
        else:
            stx.respond(self._response(req, 501, "Not Implemented"), now)

    def _find_call(self, req: SipRequest, to_tag: str) -> _Call | None:
        call = self._by_call_id.get(req.call_id)
        if call is None or call.dialog is None:
            return None
        from_tag = NameAddr.parse(req.headers.get("From") or "").tag
        if to_tag != call.dialog.local_tag or from_tag != call.dialog.remote_tag:
            return None
        return call

    def _in_dialog_request(
        self, req: SipRequest, stx: ServerTransaction, to_tag: str, now: float
    ) -> None:
        call = self._find_call(req, to_tag)
        m = req.method
        if call is None or call.state == "ended":
            if m == "OPTIONS":
                stx.respond(self._response(req, 200, "OK"), now)
            else:
                stx.respond(self._response(req, 481, "Call/Transaction Does Not Exist"), now)
            return
        assert call.dialog is not None
        if not call.dialog.check_remote_seq(req.cseq[0]):
            stx.respond(self._response(req, 500, "Server Internal Error"), now)
            return
        if m == "BYE":
            stx.respond(self._response(req, 200, "OK"), now)
            if call.pending is not None:
                call.pending.respond(
                    self._response(call.pending.request, 487, "Request Terminated"), now
                )
                call.pending = None
            if call.refresh is not None:
                call.refresh.done = True
            self._end_call(call, CallEnded(call.ref, True, None, INFO_NORMAL, raw=req), now)
        elif m == "INFO":
            stx.respond(self._response(req, 200, "OK"), now)
            ctype = req.headers.get("Content-Type") or ""
            self._emit(InfoReceived(call.ref, ctype, req.body, raw=req))
        elif m == "OPTIONS":
            resp = self._response(req, 200, "OK")
            resp.headers.add("Accept", "application/sdp")
            stx.respond(resp, now)
        elif m in ("INVITE", "UPDATE"):
            self._on_offer(call, req, stx, now)
        elif m in KNOWN_METHODS:
            stx.respond(self._response(req, 405, "Method Not Allowed"), now)
        else:
            stx.respond(self._response(req, 501, "Not Implemented"), now)

    def _on_offer(self, call: _Call, req: SipRequest, stx: ServerTransaction, now: float) -> None:
        """Peer re-INVITE or UPDATE: the app answers through answer_offer (or 488)."""
        busy = call.pending is not None or (call.refresh is not None and not call.refresh.done)
        if busy or call.pending_2xx is not None or call.state != "confirmed":
            resp = self._response(req, 491, "Request Pending")
            stx.respond(resp, now)
            return
        assert call.dialog is not None
        call.dialog.update_target(req)
        se = _parse_session_expires(req.headers.get("Session-Expires"))
        supported = {o.lower() for o in req.headers.get_all("Supported")}
        if se is not None:
            min_se = (req.headers.get("Min-SE") or "").split(";")[0].strip()
            interval = max(se[0], int(min_se) if min_se.isdigit() else 0)
            # the peer is this request's UAC: it refreshes unless it asked us to
            call.pending_se = (interval, se[1] or "uac")
            call.pending_timer_required = "timer" in supported
        else:
            call.pending_se = None
        sdp = req.body or None
        if req.method == "UPDATE" and sdp is None:
            # a session refresh only: answer at once
            resp = self._response(req, 200, "OK", contact=True, account=call.account)
            self._add_session_timer_to_response(call, resp)
            stx.respond(resp, now)
            self._arm_session_timer(call, now)
            return
        if req.method == "INVITE":
            stx.respond(self._response(req, 100, "Trying"), now)
        call.pending = stx
        call.pending_offerless = sdp is None
        self._emit(RemoteOffer(call.ref, sdp, req.method, raw=req))

    def _retransmit_2xx(self, call: _Call, number: int, interval: float, now: float) -> None:
        def fire(n: float) -> None:
            if call.pending_2xx is None or call.pending_2xx[2] != number:
                return
            self._send(call.pending_2xx[0], call.pending_2xx[1])
            self._retransmit_2xx(call, number, min(2 * interval, self.timers.t2), n)

        self._queue.set(("2xx-g", call.ref), now + interval, fire)

    def _no_ack(self, call: _Call, now: float) -> None:
        if call.pending_2xx is not None:
            call.pending_2xx = None
            self._queue.cancel(("2xx-g", call.ref))
            self._send_bye(call, now, by_remote=False, info="No ACK for 2xx")

    def _on_ack(self, req: SipRequest, now: float) -> None:
        to_tag = NameAddr.parse(req.headers.get("To") or "").tag or ""
        call = self._find_call(req, to_tag)
        if call is None or call.pending_2xx is None or call.pending_2xx[2] != req.cseq[0]:
            return
        call.pending_2xx = None
        self._queue.cancel(("2xx-g", call.ref))
        self._queue.cancel(("2xx-h", call.ref))
        if call.awaiting_answer_in_ack:
            call.awaiting_answer_in_ack = False
            if req.body:
                call.remote_sdp = req.body
                self._emit(RemoteAnswer(call.ref, req.body, raw=req))

    def _on_cancel(self, req: SipRequest, stx: ServerTransaction, now: float) -> None:
        via = req.top_via
        key = (via.branch or "", via.host.lower(), via.port, "INVITE")
        invite_tx = self._stx.get(key)
        if invite_tx is None or invite_tx.state is not State.PROCEEDING:
            stx.respond(self._response(req, 481, "Call/Transaction Does Not Exist"), now)
            return
        stx.respond(self._response(req, 200, "OK"), now)
        invite_tx.respond(self._response(invite_tx.request, 487, "Request Terminated"), now)
        for call in self._calls.values():
            if call.pending is invite_tx:
                call.pending = None


def describe(msg: SipMessage) -> str:
    """One line for logs (no credentials)."""
    return msg.start_line() + f" Call-ID={msg.call_id}"
