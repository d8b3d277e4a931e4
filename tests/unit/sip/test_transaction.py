from __future__ import annotations

import itertools

from wcs.sip.message import Headers, SipRequest, SipResponse
from wcs.sip.timers import TimerQueue
from wcs.sip.transaction import (
    ClientTransaction,
    Dest,
    InviteClientTransaction,
    NonInviteClientTransaction,
    ServerTransaction,
    SipTimers,
    State,
    TransactionLayer,
    server_key,
)

from .peer import reply

T = SipTimers()


def request(method: str, branch: str = "z9hG4bKt1") -> SipRequest:
    h = Headers()
    h.add("Via", f"SIP/2.0/UDP 10.0.0.1:5070;branch={branch};rport")
    h.add("From", "<sip:a@h>;tag=1")
    h.add("To", "<sip:b@h>")
    h.add("Call-ID", "cid")
    h.add("CSeq", f"1 {method}")
    return SipRequest(method, "sip:b@h", h)


class Clock:
    def __init__(self) -> None:
        self.queue = TimerQueue()
        self.now = 0.0
        self.sent: list[tuple[float, bytes]] = []
        self.responses: list[int] = []
        self.timeouts = 0
        self.terminated = 0

    def send(self, data: bytes, dest: Dest) -> None:
        self.sent.append((self.now, data))

    def run_until(self, t: float) -> None:
        while (w := self.queue.next()) is not None and w <= t:
            self.now = w
            self.queue.fire(w)
        self.now = t

    def client(
        self, cls: type[ClientTransaction], method: str, transport: str = "udp"
    ) -> ClientTransaction:
        def on_response(_tx: ClientTransaction, resp: SipResponse, _n: float) -> None:
            self.responses.append(resp.status)

        def on_timeout(_tx: ClientTransaction, _n: float) -> None:
            self.timeouts += 1

        def on_terminated(_tx: object) -> None:
            self.terminated += 1

        tx = cls(
            request(method),
            ("10.0.0.2", 5060, transport),
            TransactionLayer(T, self.queue, self.send),
            on_response=on_response,
            on_timeout=on_timeout,
            on_terminated=on_terminated,
        )
        tx.start(self.now)
        return tx


def test_timer_e_doubles_capped_at_t2_and_timer_f_times_out() -> None:
    c = Clock()
    tx = c.client(NonInviteClientTransaction, "REGISTER")
    c.run_until(40)
    times = [t for t, _ in c.sent]
    # 0, then E = 0.5, 1, 2, 4, 4, 4 ... (capped at T2) until F = 64*T1 = 32 s
    assert times[:6] == [0, 0.5, 1.5, 3.5, 7.5, 11.5]
    assert all(b - a == 4.0 for a, b in itertools.pairwise(times[4:]))
    assert times[-1] < 32
    assert c.timeouts == 1 and tx.state is State.TERMINATED and c.terminated == 1


def test_timer_e_after_provisional_is_t2() -> None:
    c = Clock()
    tx = c.client(NonInviteClientTransaction, "BYE")
    tx.receive(reply(tx.request, 100, "Trying", to_tag=None), 0.1)
    c.run_until(0.6)  # E was armed at 0.5 (Trying); after it, T2 in Proceeding
    c.run_until(9)
    assert [t for t, _ in c.sent] == [0, 0.5, 4.5, 8.5]
    assert c.responses == [100]


def test_timer_k_absorbs_retransmitted_finals() -> None:
    c = Clock()
    tx = c.client(NonInviteClientTransaction, "BYE")
    tx.receive(reply(tx.request, 200, "OK"), 0.0)
    tx.receive(reply(tx.request, 200, "OK"), 1.0)
    assert c.responses == [200]
    assert tx.state is State.COMPLETED
    c.run_until(4.9)
    assert tx.state is State.COMPLETED
    c.run_until(5.0)  # Timer K = T4
    assert tx.state is State.TERMINATED and c.timeouts == 0


def test_reliable_transport_does_not_retransmit_and_k_is_zero() -> None:
    c = Clock()
    tx = c.client(NonInviteClientTransaction, "OPTIONS", transport="tcp")
    c.run_until(20)
    assert len(c.sent) == 1
    tx.receive(reply(tx.request, 200, "OK"), 20)
    c.run_until(20)
    assert tx.state is State.TERMINATED


def test_invite_timer_a_stops_on_provisional_and_d_after_failure() -> None:
    c = Clock()
    tx = c.client(InviteClientTransaction, "INVITE")
    c.run_until(1.6)
    assert [t for t, _ in c.sent] == [0, 0.5, 1.5]
    tx.receive(reply(tx.request, 180, "Ringing"), 1.6)
    c.run_until(100)  # no retransmission and no Timer B in Proceeding
    assert len(c.sent) == 3 and c.timeouts == 0
    tx.receive(reply(tx.request, 603, "Decline"), 100)
    assert c.sent[-1][1].startswith(b"ACK sip:b@h SIP/2.0")
    assert c.responses == [180, 603]
    c.run_until(131.9)
    assert tx.state is State.COMPLETED
    c.run_until(132)  # Timer D = 32 s on UDP
    assert tx.state is State.TERMINATED


def test_invite_2xx_terminates_client_transaction() -> None:
    c = Clock()
    tx = c.client(InviteClientTransaction, "INVITE")
    tx.receive(reply(tx.request, 200, "OK"), 0.2)
    assert tx.state is State.TERMINATED and c.responses == [200]
    assert len(c.sent) == 1  # no ACK from the transaction for 2xx


def server(c: Clock, method: str, transport: str = "udp") -> tuple[ServerTransaction, list[int]]:
    acks: list[int] = []
    tx = ServerTransaction(
        request(method, "z9hG4bKsrv"),
        ("10.0.0.2", 5060, transport),
        TransactionLayer(T, c.queue, c.send),
        on_terminated=lambda _t: None,
        on_ack_timeout=lambda _t, _n: acks.append(1),
    )
    return tx, acks


def test_server_invite_timer_g_h_and_ack_confirms() -> None:
    c = Clock()
    tx, acks = server(c, "INVITE")
    tx.respond(reply(tx.request, 486, "Busy Here"), 0)
    c.run_until(10)
    # G: T1, 2T1, 4T1, then capped at T2
    assert [t for t, _ in c.sent] == [0, 0.5, 1.5, 3.5, 7.5]
    tx.receive_retransmission(request("ACK", "z9hG4bKsrv"), 10)
    assert tx.state is State.CONFIRMED
    c.run_until(14.9)
    assert tx.state is State.CONFIRMED and len(c.sent) == 5
    c.run_until(15)  # Timer I = T4
    assert tx.state is State.TERMINATED and acks == []

    c2 = Clock()
    tx2, acks2 = server(c2, "INVITE")
    tx2.respond(reply(tx2.request, 486, "Busy Here"), 0)
    c2.run_until(32)  # Timer H = 64*T1 without ACK
    assert tx2.state is State.TERMINATED and acks2 == [1]


def test_server_non_invite_timer_j_and_retransmissions() -> None:
    c = Clock()
    tx, _ = server(c, "BYE")
    tx.respond(reply(tx.request, 200, "OK"), 0)
    tx.receive_retransmission(tx.request, 1)
    assert len(c.sent) == 2 and c.sent[0][1] == c.sent[1][1]
    c.run_until(31.9)
    assert tx.state is State.COMPLETED
    c.run_until(32)  # Timer J = 64*T1
    assert tx.state is State.TERMINATED


def test_server_key_matches_ack_to_invite_and_ignores_case() -> None:
    inv = request("INVITE", "z9hG4bKk")
    ack = request("ACK", "z9hG4bKk")
    ack.headers.set("Via", "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKk")
    bye = request("BYE", "z9hG4bKk")
    assert server_key(inv) == server_key(ack)
    assert server_key(inv) != server_key(bye)
