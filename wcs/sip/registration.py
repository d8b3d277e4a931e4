"""Registrations (RFC 3261 §10): REGISTER, its refresh, its removal, digest challenges.

Choices: the refresh is sent max(1, min(expires/2, expires-32)) s after the 200; a failed
registration (or refresh) is removed after RegistrationFailed; 423 is retried once with the
registrar's Min-Expires. Over TCP/TLS the binding's flow is watched (reg_keepalive.py): a
lost connection or failing OPTIONS keep-alives send the REGISTER again at once.
"""

from __future__ import annotations

from . import auth
from .account import STREAM_TRANSPORTS, Account, account_dest, aor
from .endpoint import ALLOW, Endpoint, token
from .errors import SipParseError
from .events import RegistrationEnded, RegistrationFailed, RegistrationSucceeded
from .message import SipResponse
from .outgoing import OutgoingRequest
from .reg_keepalive import RegistrationKeepAlive
from .uri import NameAddr, SipUri, same_host


def refresh_delay(expires: int) -> float:
    """Seconds after a 200 until the refresh: before the binding expires, with room for it."""
    return max(1.0, min(expires / 2, expires - 32))


class Registration:
    """One account's binding: its Call-ID, From tag and CSeq stay for every REGISTER."""

    def __init__(self, reg_id: str, account: Account, expires: int) -> None:
        self.reg_id = reg_id
        self.account = account
        self.expires = expires
        self.call_id = token() + token()
        self.tag = token()
        self.cseq = 0
        self.creds = auth.DigestCredentials(account.auth_name or account.login, account.password)
        self.outgoing: OutgoingRequest | None = None
        self.registered = False
        self.unregistering = False
        self.wants_unregister = False
        self.retried_423 = False


class Registrations:
    """Every registration of the user agent, by id ("reg-1", ...)."""

    def __init__(
        self,
        endpoint: Endpoint,
        expires: int,
        keepalive_interval: float = 30.0,
        keepalive_failures: int = 2,
    ) -> None:
        self.endpoint = endpoint
        self.expires = expires  # requested lifetime
        self.regs: dict[str, Registration] = {}
        self._count = 0
        self.keepalive = RegistrationKeepAlive(
            endpoint, self._reregister, keepalive_interval, keepalive_failures
        )

    def register(self, account: Account, now: float, expires: int | None = None) -> str:
        self._count += 1
        reg_id = f"reg-{self._count}"
        reg = Registration(reg_id, account, expires or self.expires)
        self.regs[reg_id] = reg
        self._send_register(reg, reg.expires, now)
        return reg_id

    def unregister(self, reg_id: str, now: float) -> None:
        reg = self.regs.get(reg_id)
        if reg is None or reg.unregistering:
            return
        self.endpoint.queue.cancel(("reg", reg_id))
        self.keepalive.forget(reg_id)
        if reg.outgoing is not None and not reg.outgoing.done:
            reg.wants_unregister = True  # §10.2: one REGISTER at a time per Call-ID
            return
        reg.unregistering = True
        self._send_register(reg, 0, now)

    def _send_register(self, reg: Registration, expires: int, now: float) -> None:
        ep = self.endpoint
        acc = reg.account
        dest = account_dest(acc)
        uri = SipUri(host=acc.domain)
        if acc.transport in STREAM_TRANSPORTS and not acc.outbound_proxy:
            uri.params["transport"] = acc.transport
        req = ep.new_request("REGISTER", str(uri), acc.transport)
        req.headers.add("From", ep.from_header(acc, reg.tag))
        req.headers.add("To", str(NameAddr(aor(acc), acc.display_name or None)))
        req.headers.add("Call-ID", reg.call_id)
        reg.cseq += 1
        req.headers.add("CSeq", f"{reg.cseq} REGISTER")
        req.headers.add("Contact", ep.contact(acc))
        req.headers.add("Expires", str(expires))
        req.headers.add("Allow", ALLOW)
        ep.common_headers(req)

        def next_cseq() -> int:
            reg.cseq += 1
            return reg.cseq

        reg.outgoing = OutgoingRequest(
            ep,
            req,
            dest,
            creds=reg.creds,
            next_cseq=next_cseq,
            on_final=lambda resp, info, n: self._register_final(reg, expires, resp, info, n),
        )
        reg.outgoing.start(now)

    def _register_final(
        self, reg: Registration, asked: int, resp: SipResponse | None, info: str, now: float
    ) -> None:
        ep = self.endpoint
        if asked == 0:
            self.keepalive.forget(reg.reg_id)
            self.regs.pop(reg.reg_id, None)
            ep.emit(RegistrationEnded(reg.reg_id))
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
            ep.emit(RegistrationSucceeded(reg.reg_id, expires))
            if reg.wants_unregister:
                reg.wants_unregister = False
                reg.unregistering = True
                self._send_register(reg, 0, now)
                return
            delay = refresh_delay(expires)
            ep.queue.set(("reg", reg.reg_id), now + delay, lambda n: self._refresh(reg, n))
            self.keepalive.watch(reg, now)
            return
        self.keepalive.forget(reg.reg_id)
        self.regs.pop(reg.reg_id, None)
        ep.queue.cancel(("reg", reg.reg_id))
        status = resp.status if resp is not None else None
        reason = resp.reason if resp is not None else "Request Timeout"
        ep.emit(RegistrationFailed(reg.reg_id, status, reason, info))
        if reg.wants_unregister:
            ep.emit(RegistrationEnded(reg.reg_id))

    def _refresh(self, reg: Registration, now: float) -> None:
        if reg.reg_id in self.regs and not reg.unregistering:
            self._send_register(reg, reg.expires, now)

    def _reregister(self, reg: Registration, now: float) -> None:
        """The flow looked dead: the refresh now, unless a REGISTER is on its way."""
        if reg.outgoing is not None and not reg.outgoing.done:
            return
        self.endpoint.queue.cancel(("reg", reg.reg_id))
        self._refresh(reg, now)

    def _granted_expires(self, reg: Registration, resp: SipResponse, asked: int) -> int:
        ours = NameAddr.parse(self.endpoint.contact(reg.account)).uri
        for value in resp.headers.get_all("Contact"):
            try:
                c = NameAddr.parse(value)
            except SipParseError:
                continue
            same = (c.uri.user, c.uri.port or 5060) == (ours.user, ours.port or 5060)
            same = same and same_host(c.uri.host, ours.host)  # [::1] == [0:0::1]
            exp = c.params.get("expires")
            if same and exp is not None and exp.isdigit():
                return int(exp)
        header = (resp.headers.get("Expires") or "").strip()
        return int(header) if header.isdigit() else asked
