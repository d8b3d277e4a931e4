"""What every part of the user agent shares: our address on the wire, the timer queue, the
datagrams and events waiting to be drained, the transaction tables, and how our requests
and responses start (Via, Contact, From, the §8.2.6.2 response copy)."""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Callable

from .account import STREAM_TRANSPORTS, Account, aor
from .events import Event
from .message import Headers, SipRequest, SipResponse
from .timers import TimerQueue
from .transaction import (
    ClientTransaction,
    Dest,
    InviteClientTransaction,
    NonInviteClientTransaction,
    ServerTransaction,
    SipTimers,
    TransactionLayer,
)
from .uri import NameAddr, SipUri, format_hostport
from .via import MAGIC_COOKIE

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
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


def token() -> str:
    """A fresh random tag, branch or Call-ID part."""
    return secrets.token_hex(8)


class Endpoint:
    """Shared by the registrations, the calls and the facade; owns no protocol logic."""

    def __init__(
        self, *, local_port: int, public_ip: str, user_agent: str, timers: SipTimers
    ) -> None:
        self.local_port = local_port  # the edge sets it when it binds port 0
        self.tls_port = 0  # the edge sets it when it listens for TLS (0: none)
        self.public_ip = public_ip
        self.user_agent = user_agent
        self.timers = timers
        self.queue = TimerQueue()
        self.layer = TransactionLayer(timers, self.queue, self.send)
        self.out: list[tuple[bytes, tuple[str, int], str]] = []
        self.events: deque[Event] = deque()
        self.client_txs: dict[tuple[str, str], ClientTransaction] = {}
        self.server_txs: dict[object, ServerTransaction] = {}

    def send(self, data: bytes, dest: Dest) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "SIP out to %s: %s", dest, data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
            )
        self.out.append((data, (dest[0], dest[1]), dest[2]))

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def start_client_tx(
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
            self.layer,
            on_response=on_response,
            on_timeout=on_timeout,
            on_terminated=lambda t: self.client_txs.pop(t.key, None),
        )
        self.client_txs[tx.key] = tx
        return tx

    # ---- what our messages are made of ---------------------------------------------------

    def port_for(self, transport: str) -> int:
        """Our listening port for ``transport`` (the TLS listener has its own)."""
        return self.tls_port if transport == "tls" and self.tls_port else self.local_port

    def via(self, transport: str) -> str:
        hostport = format_hostport(self.public_ip, self.port_for(transport))
        return f"SIP/2.0/{transport.upper()} {hostport};branch={MAGIC_COOKIE}{token()};rport"

    def contact(self, account: Account) -> str:
        transport = account.transport
        uri = SipUri(host=self.public_ip, port=self.port_for(transport), user=account.login)
        if ":" in uri.host and not uri.host.startswith("["):
            uri.host = f"[{uri.host}]"
        if transport in STREAM_TRANSPORTS:
            uri.params["transport"] = transport
        return f"<{uri}>"

    def from_header(self, account: Account, tag: str) -> str:
        display = account.display_name or None
        return str(NameAddr(aor(account), display, {"tag": tag}))

    def new_request(self, method: str, uri: str, transport: str) -> SipRequest:
        h = Headers()
        h.add("Via", self.via(transport))
        h.add("Max-Forwards", "70")
        return SipRequest(method, uri, h)

    def common_headers(self, req: SipRequest) -> None:
        req.headers.add("User-Agent", self.user_agent)

    def response(
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
            to = f"{to};tag={to_tag or token()}"
        h.add("To", to)
        h.add("Call-ID", req.call_id)
        h.add("CSeq", req.headers.get("CSeq") or "")
        if 100 < status < 300 and req.headers.get_all("Record-Route"):
            # §12.1.1: a response that makes a dialog copies Record-Route in order, so the
            # caller's ACK, BYE and INFO go through the proxies that asked to stay on path
            h.set_all("Record-Route", req.headers.get_all("Record-Route"))
        if contact and account is not None:
            h.add("Contact", self.contact(account))
        h.add("Server", self.user_agent)
        if status in (200, 405) or status == 501:
            h.add("Allow", ALLOW)
        if status == 200:
            h.add("Supported", "timer")
        return SipResponse(status, reason, h, body)
