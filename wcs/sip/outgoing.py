"""One request we send, answered once: its digest retries (401/407, one more on a stale
nonce) run over successive client transactions, and its user sees one final outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable

from . import auth
from .endpoint import Endpoint, token
from .message import SipRequest, SipResponse
from .transaction import ClientTransaction, Dest
from .via import MAGIC_COOKIE

log = logging.getLogger(__name__)

INFO_TIMEOUT = "Failed by request timeout"
INFO_AUTH = "Authentication failed"


class OutgoingRequest:
    """One logical request (with its digest retries) over successive client transactions."""

    def __init__(
        self,
        endpoint: Endpoint,
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
        self.endpoint = endpoint
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
        self.tx = self.endpoint.start_client_tx(
            self.request, self.dest, self._response, self._timeout
        )
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
        via.params["branch"] = MAGIC_COOKIE + token()
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
