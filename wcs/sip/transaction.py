"""SIP transactions (RFC 3261 §17): client and server, INVITE and non-INVITE, sans-IO.

Each transaction owns its retransmission and timeout timers in a shared TimerQueue and
talks to its user (the UA core) through callbacks. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import Enum

from .message import Headers, SipRequest, SipResponse
from .timers import TimerQueue
from .via import MAGIC_COOKIE

Dest = tuple[str, int, str]  # (host, port, "udp" | "tcp")


@dataclass(frozen=True)
class SipTimers:
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


class State(Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


SendFn = Callable[[bytes, Dest], None]


@dataclass(frozen=True, slots=True)
class TransactionLayer:
    """What every transaction of one endpoint shares: the timer values (T1, T2, T4), the one
    timer queue, and how a datagram leaves."""

    timers: SipTimers
    queue: TimerQueue
    send: SendFn


def client_key(branch: str, method: str) -> tuple[str, str]:
    """§17.1.3: branch of the top Via plus the CSeq method."""
    return branch, method


def server_key(request: SipRequest) -> Hashable:
    """§17.2.3: branch + sent-by + method (ACK matches its INVITE); RFC 2543 fallback."""
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch or ""
    if branch.startswith(MAGIC_COOKIE):
        return branch, via.host.lower(), via.port, method
    number, _ = request.cseq
    return ("2543", request.call_id, number, str(via), method)


def same_hop_request(invite: SipRequest, method: str, to: str | None = None) -> SipRequest:
    """A request of the INVITE's own hop, CANCEL (§9.1) or ACK of a non-2xx (§17.1.1.3): its
    top Via, Route set, From, Call-ID and CSeq number; To from the response, else the INVITE's."""
    h = Headers()
    h.add("Via", invite.headers.get_all("Via")[0])
    for route in invite.headers.get_all("Route"):
        h.add("Route", route)
    h.add("Max-Forwards", "70")
    h.add("From", invite.headers.get("From") or "")
    h.add("To", to or invite.headers.get("To") or "")
    h.add("Call-ID", invite.call_id)
    h.add("CSeq", f"{invite.cseq[0]} {method}")
    return SipRequest(method, invite.uri, h)


class _Transaction:
    """What both kinds share: the request, where it goes, and its timers in the shared queue
    (keyed by kind, transaction key and timer letter)."""

    TIMER_TAG = ""
    key: Hashable

    def __init__(self, request: SipRequest, dest: Dest, layer: TransactionLayer) -> None:
        self.request, self.dest = request, dest
        self.t, self.queue, self._send = layer.timers, layer.queue, layer.send
        self.method = request.method
        self.reliable = dest[2] != "udp"

    def _set(self, name: str, when: float, cb: Callable[[float], None]) -> None:
        self.queue.set((self.TIMER_TAG, self.key, name), when, cb)

    def _cancel(self, *names: str) -> None:
        for name in names:
            self.queue.cancel((self.TIMER_TAG, self.key, name))


class ClientTransaction(_Transaction):
    """Base of the client transactions; `on_response` gets every response the TU must see."""

    TIMER_TAG = "ctx"
    key: tuple[str, str]

    def __init__(
        self,
        request: SipRequest,
        dest: Dest,
        layer: TransactionLayer,
        *,
        on_response: Callable[[ClientTransaction, SipResponse, float], None],
        on_timeout: Callable[[ClientTransaction, float], None],
        on_terminated: Callable[[ClientTransaction], object],
    ) -> None:
        super().__init__(request, dest, layer)
        self.on_response = on_response
        self.on_timeout = on_timeout
        self.on_terminated = on_terminated
        self.branch = request.top_via.branch or ""
        self.key = client_key(self.branch, self.method)
        self.state = State.CALLING if request.method == "INVITE" else State.TRYING
        self._done = False
        self.data = request.serialize()
        self.retransmissions = 0

    # The retransmit and timeout timers: A and B (INVITE), E and F (non-INVITE).
    RETRANSMIT_TIMER = ""
    TIMEOUT_TIMER = ""

    def start(self, now: float) -> None:
        self._send(self.data, self.dest)
        if not self.reliable:
            self._interval = self.t.t1
            self._set(self.RETRANSMIT_TIMER, now + self._interval, self._retransmit)
        self._set(self.TIMEOUT_TIMER, now + 64 * self.t.t1, self._timeout)

    def _retransmit(self, now: float) -> None:
        interval = self._next_interval()
        if interval is None:
            return
        self._send(self.data, self.dest)
        self.retransmissions += 1
        self._interval = interval
        self._set(self.RETRANSMIT_TIMER, now + interval, self._retransmit)

    def _next_interval(self) -> float | None:
        """The wait before the next retransmission; None: the state retransmits no more."""
        raise NotImplementedError

    def receive(self, response: SipResponse, now: float) -> None:
        raise NotImplementedError

    def terminate(self) -> None:
        if self._done:
            return
        self._done = True
        self.state = State.TERMINATED
        self._cancel("A", "B", "D", "E", "F", "K")
        self.on_terminated(self)

    def transport_failed(self, reason: str, now: float) -> None:
        """The edge could not deliver to `dest`: end now instead of waiting for B/F."""
        if self.state in (State.CALLING, State.TRYING, State.PROCEEDING):
            self.error = reason
            self.on_timeout(self, now)
        self.terminate()

    error: str | None = None

    def _timeout(self, now: float) -> None:
        if self.state in (State.CALLING, State.TRYING, State.PROCEEDING):
            self.on_timeout(self, now)
        self.terminate()


class InviteClientTransaction(ClientTransaction):
    """§17.1.1. A 2xx ends the transaction; the UA core ACKs 2xx itself."""

    RETRANSMIT_TIMER = "A"
    TIMEOUT_TIMER = "B"

    def _next_interval(self) -> float | None:
        if self.state is not State.CALLING:
            return None
        return 2 * self._interval  # §17.1.1.2: A doubles each time (not capped by T2)

    def receive(self, response: SipResponse, now: float) -> None:
        code = response.status
        if self.state in (State.CALLING, State.PROCEEDING):
            if code < 200:
                self.state = State.PROCEEDING
                self._cancel("A")
                # Timer B keeps running only in Calling (§17.1.1.2); the TU guards the rest.
                self._cancel("B")
                self.on_response(self, response, now)
            elif code < 300:
                self.on_response(self, response, now)
                self.terminate()
            else:
                self.state = State.COMPLETED
                self._cancel("A", "B")
                self._ack = self.build_ack(response).serialize()
                self._send(self._ack, self.dest)
                self._set("D", now + (0.0 if self.reliable else 32.0), lambda _n: self.terminate())
                self.on_response(self, response, now)
        elif self.state is State.COMPLETED and code >= 300:
            self._send(self._ack, self.dest)  # retransmitted final: ACK again, TU not told

    def build_ack(self, response: SipResponse) -> SipRequest:
        """§17.1.1.3: ACK for a non-2xx final response (To with the response's tag)."""
        return same_hop_request(self.request, "ACK", response.headers.get("To"))


class NonInviteClientTransaction(ClientTransaction):
    """§17.1.2."""

    RETRANSMIT_TIMER = "E"
    TIMEOUT_TIMER = "F"

    def _next_interval(self) -> float | None:
        if self.state is State.TRYING:
            return min(2 * self._interval, self.t.t2)
        return self.t.t2 if self.state is State.PROCEEDING else None

    def receive(self, response: SipResponse, now: float) -> None:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return  # Completed: retransmitted finals are absorbed
        if response.status < 200:
            self.state = State.PROCEEDING
            self.on_response(self, response, now)
            return
        self.state = State.COMPLETED
        self._cancel("E", "F")
        self._set("K", now + (0.0 if self.reliable else self.t.t4), lambda _n: self.terminate())
        self.on_response(self, response, now)


class ServerTransaction(_Transaction):
    """§17.2. The TU answers with `respond`; retransmitted requests get the last response."""

    TIMER_TAG = "stx"

    def __init__(
        self,
        request: SipRequest,
        dest: Dest,
        layer: TransactionLayer,
        *,
        on_terminated: Callable[[ServerTransaction], object],
        on_ack_timeout: Callable[[ServerTransaction, float], None] | None = None,
    ) -> None:
        super().__init__(request, dest, layer)
        self.on_terminated = on_terminated
        self.on_ack_timeout = on_ack_timeout
        self.key = server_key(request)
        self.is_invite = request.method == "INVITE"
        self.state = State.PROCEEDING if self.is_invite else State.TRYING
        self.last: bytes | None = None
        self.final_status: int | None = None

    def respond(self, response: SipResponse, now: float) -> None:
        if self.state in (State.COMPLETED, State.CONFIRMED, State.TERMINATED):
            return
        self.last = response.serialize()
        self._send(self.last, self.dest)
        code = response.status
        if code < 200:
            if not self.is_invite:
                self.state = State.PROCEEDING
            return
        self.final_status = code
        if self.is_invite and code < 300:
            self.terminate()  # the UA core retransmits its 2xx until the ACK (§13.3.1.4)
            return
        self.state = State.COMPLETED
        if self.is_invite:
            if not self.reliable:
                self._g = self.t.t1
                self._set("G", now + self._g, self._timer_g)
            self._set("H", now + 64 * self.t.t1, self._timer_h)
        else:
            wait = 0.0 if self.reliable else 64 * self.t.t1
            self._set("J", now + wait, lambda _n: self.terminate())

    def _timer_g(self, now: float) -> None:
        if self.state is not State.COMPLETED or self.last is None:
            return
        self._send(self.last, self.dest)
        self._g = min(2 * self._g, self.t.t2)
        self._set("G", now + self._g, self._timer_g)

    def _timer_h(self, now: float) -> None:
        if self.state is State.COMPLETED and self.on_ack_timeout is not None:
            self.on_ack_timeout(self, now)
        self.terminate()

    def receive_retransmission(self, request: SipRequest, now: float) -> None:
        if request.method == "ACK":
            if self.is_invite and self.state is State.COMPLETED:
                self.state = State.CONFIRMED
                self._cancel("G", "H")
                wait = 0.0 if self.reliable else self.t.t4
                self._set("I", now + wait, lambda _n: self.terminate())
            return
        if self.last is not None and self.state in (State.PROCEEDING, State.COMPLETED):
            self._send(self.last, self.dest)

    def terminate(self) -> None:
        if self.state is State.TERMINATED:
            return
        self.state = State.TERMINATED
        self._cancel("G", "H", "I", "J")
        self.on_terminated(self)
