"""Keeping a registration's flow alive over TCP/TLS (RFC 5626 §4.4, the idea of it).

A binding made over a connection lives as long as the registrar still knows us; a registrar
that restarted has an empty location table and routes no call to us until our next
refresh, which may be many minutes away. Two signals bring the binding back early:

- the connection we registered over is lost (the edge calls :meth:`flow_lost`): the
  REGISTER is sent again at once;
- an OPTIONS to the registrar every ``interval`` seconds: any final answer says it is
  alive; ``failures`` consecutive timeouts or transport errors send the REGISTER again.

A REGISTER that then fails follows the usual path: RegistrationFailed, and the application's
backoff (:mod:`wcs.app.registrations`). Over UDP there is no flow: the refresh and a 404/481
on it do that job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .account import STREAM_TRANSPORTS, account_dest
from .endpoint import Endpoint, token
from .message import SipResponse
from .outgoing import OutgoingRequest
from .uri import NameAddr, SipUri, same_host

if TYPE_CHECKING:
    from .registration import Registration

log = logging.getLogger(__name__)


class RegistrationKeepAlive:
    def __init__(
        self,
        endpoint: Endpoint,
        reregister: Callable[[Registration, float], None],
        interval: float = 30.0,
        failures: int = 2,
    ) -> None:
        self.endpoint = endpoint
        self.reregister = reregister  # sends the REGISTER again (when none is on its way)
        self.interval = interval  # 0: no OPTIONS
        self.failures = max(1, failures)
        self.regs: dict[str, Registration] = {}  # the bindings watched, by reg id
        self.misses: dict[str, int] = {}
        self.probes = 0  # OPTIONS sent
        self.reregistrations = 0  # REGISTERs sent again because the flow looked dead

    def watch(self, reg: Registration, now: float) -> None:
        """``reg`` is registered: watch it when it is over a connection."""
        if reg.account.transport not in STREAM_TRANSPORTS:
            return
        self.regs[reg.reg_id] = reg
        self.misses.setdefault(reg.reg_id, 0)
        if self.interval > 0:
            self.endpoint.queue.set(
                ("reg-ka", reg.reg_id), now + self.interval, lambda n: self._probe(reg, n)
            )

    def forget(self, reg_id: str) -> None:
        self.regs.pop(reg_id, None)
        self.misses.pop(reg_id, None)
        self.endpoint.queue.cancel(("reg-ka", reg_id))

    def flow_lost(self, addr: tuple[str, int], transport: str, now: float) -> None:
        """The connection to ``addr`` over ``transport`` closed (not by us)."""
        for reg in list(self.regs.values()):
            host, port, via = account_dest(reg.account)
            if via == transport and port == addr[1] and same_host(host, addr[0]):
                log.info("registration %s: its connection to %s closed: registering again",
                         reg.reg_id, addr)  # fmt: skip
                self._again(reg, now)

    def _again(self, reg: Registration, now: float) -> None:
        self.forget(reg.reg_id)
        self.reregistrations += 1
        self.reregister(reg, now)

    def _probe(self, reg: Registration, now: float) -> None:
        if self.regs.get(reg.reg_id) is not reg:
            return
        ep = self.endpoint
        acc = reg.account
        uri = SipUri(host=acc.domain)
        if not acc.outbound_proxy:
            uri.params["transport"] = acc.transport
        req = ep.new_request("OPTIONS", str(uri), acc.transport)
        req.headers.add("From", ep.from_header(acc, token()))
        req.headers.add("To", str(NameAddr(uri)))
        req.headers.add("Call-ID", token() + token())
        cseq = [1]
        req.headers.add("CSeq", "1 OPTIONS")
        req.headers.add("Accept", "application/sdp")
        ep.common_headers(req)

        def next_cseq() -> int:
            cseq[0] += 1
            return cseq[0]

        self.probes += 1
        OutgoingRequest(
            ep,
            req,
            account_dest(acc),
            creds=reg.creds,
            next_cseq=next_cseq,
            on_final=lambda resp, info, n: self._answered(reg, resp, info, n),
        ).start(now)

    def _answered(self, reg: Registration, resp: SipResponse | None, info: str, now: float) -> None:
        if self.regs.get(reg.reg_id) is not reg:
            return
        if resp is not None:  # any final answer: the registrar is there
            self.misses[reg.reg_id] = 0
            self.watch(reg, now)
            return
        misses = self.misses.get(reg.reg_id, 0) + 1
        self.misses[reg.reg_id] = misses
        log.info("registration %s: keep-alive OPTIONS failed (%s), %d of %d",
                 reg.reg_id, info, misses, self.failures)  # fmt: skip
        if misses >= self.failures:
            self._again(reg, now)
        else:
            self.watch(reg, now)
