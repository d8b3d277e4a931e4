"""A scripted SIP peer for driving the sans-IO UserAgent in unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from wcs.sip.events import Event
from wcs.sip.message import Headers, SipRequest, SipResponse, parse_message
from wcs.sip.ua import Account, UserAgent

PROXY = ("10.0.0.2", 5060)
ACCOUNT = Account(login="1001", domain="10.0.0.2", password="secret1001", display_name="Alice")
OFFER = (
    b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0\r\n"
)
ANSWER = (
    b"v=0\r\no=- 2 2 IN IP4 10.0.0.3\r\ns=-\r\nc=IN IP4 10.0.0.3\r\nt=0 0\r\n"
    b"m=audio 5000 RTP/AVP 0\r\n"
)
CHALLENGE = 'Digest realm="sip.test", nonce="abc123", qop="auth"'


@dataclass
class Sent:
    msg: SipRequest | SipResponse
    addr: tuple[str, int]
    transport: str

    @property
    def req(self) -> SipRequest:
        assert isinstance(self.msg, SipRequest), self.msg
        return self.msg

    @property
    def resp(self) -> SipResponse:
        assert isinstance(self.msg, SipResponse), self.msg
        return self.msg


@dataclass
class Harness:
    ua: UserAgent = field(
        default_factory=lambda: UserAgent(
            local_port=5070, public_ip="10.0.0.1", user_agent="wcs-test"
        )
    )
    now: float = 0.0

    def sent(self) -> list[Sent]:
        return [
            Sent(parse_message(data), (host, port), t)
            for data, (host, port, t) in self.ua.datagrams_to_send(self.now)
        ]

    def one(self) -> Sent:
        out = self.sent()
        assert len(out) == 1, [s.msg.start_line() for s in out]
        return out[0]

    def events(self) -> list[Event]:
        out = []
        while (ev := self.ua.next_event()) is not None:
            out.append(ev)
        return out

    def feed(self, msg: SipRequest | SipResponse | bytes, addr: tuple[str, int] = PROXY) -> None:
        data = msg if isinstance(msg, bytes) else msg.serialize()
        self.ua.receive(data, addr, "udp", self.now)

    def advance(self, to: float) -> None:
        """Fire every timer up to `to`, in order, like the edge would."""
        while (t := self.ua.get_timer()) is not None and t <= to:
            self.now = max(self.now, t)
            self.ua.handle_timer(self.now)
        self.now = to


def reply(
    req: SipRequest,
    status: int,
    reason: str,
    *,
    to_tag: str | None = "peer1",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> SipResponse:
    h = Headers()
    h.set_all("Via", req.headers.get_all("Via"))
    h.add("From", req.headers.get("From") or "")
    to = req.headers.get("To") or ""
    if to_tag and "tag=" not in to:
        to += f";tag={to_tag}"
    h.add("To", to)
    h.add("Call-ID", req.call_id)
    h.add("CSeq", req.headers.get("CSeq") or "")
    for name, value in headers or []:
        h.add(name, value)
    return SipResponse(status, reason, h, body)


def peer_request(
    answered: SipResponse,
    method: str,
    cseq: int,
    *,
    body: bytes = b"",
    branch: str = "z9hG4bKpeer1",
    headers: list[tuple[str, str]] | None = None,
) -> SipRequest:
    """An in-dialog request from the callee, built from the 2xx it sent us."""
    invite_from = answered.headers.get("From") or ""
    invite_to = answered.headers.get("To") or ""
    h = Headers()
    h.add("Via", f"SIP/2.0/UDP 10.0.0.2:5060;branch={branch}")
    h.add("From", invite_to)
    h.add("To", invite_from)
    h.add("Call-ID", answered.call_id)
    h.add("CSeq", f"{cseq} {method}")
    h.add("Contact", "<sip:1002@10.0.0.3:5080>")
    h.add("Max-Forwards", "70")
    for name, value in headers or []:
        h.add(name, value)
    if body:
        h.add("Content-Type", "application/sdp")
    return SipRequest(method, "sip:1001@10.0.0.1:5070", h, body)
