"""Replay one side of a captured SIP exchange into our sans-IO UserAgent.

The UA plays the captured client (e.g. baresip 1001 on :5070): it is started with an action
(invite/register), every datagram the capture shows arriving at that client is fed to
``UserAgent.receive`` at its capture time, and every datagram the capture shows the client
sending is paired with the UA's next own datagram. The UA picks its own Call-ID, tags,
branches and CSeq numbers, so the captured peer messages are rewritten token by token
(learned from each pair) before they are fed: everything else stays the captured bytes.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.siptrace import sip_packets
from wcs.sip.events import Event
from wcs.sip.message import SipMessage, SipRequest, parse_message
from wcs.sip.ua import UserAgent
from wcs.sip.uri import NameAddr

Dest = tuple[str, int, str]


@dataclass
class Pair:
    """A message the captured client sent, and the one our UA sent in its place."""

    frame: int
    theirs: SipMessage
    ours: SipMessage
    dest: Dest


@dataclass
class Replay:
    pairs: list[Pair] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    fed: list[tuple[int, bytes]] = field(default_factory=list)  # (frame, rewritten bytes)
    retransmissions: list[bytes] = field(default_factory=list)
    leftovers: list[tuple[bytes, Dest]] = field(default_factory=list)  # unpaired at the end
    extras: list[SipMessage] = field(default_factory=list)  # ours, allowed to be missing there


class ReplayError(AssertionError):
    pass


_CSEQ = re.compile(rb"(?im)^(CSeq[ \t]*:[ \t]*)(\d+)")


class _Rewriter:
    """Maps the capture's identifiers (Call-ID, our side's tags, branches, CSeq numbers)
    to the UA's own. A UAS picks its To tag: learned from its responses."""

    def __init__(self) -> None:
        self.tokens: dict[bytes, bytes] = {}
        self.cseq: dict[int, int] = {}

    def learn(self, theirs: SipMessage, ours: SipMessage) -> None:
        self._token(theirs.call_id, ours.call_id)
        self._token(_tag(theirs, "From"), _tag(ours, "From"))
        if not isinstance(theirs, SipRequest):
            self._token(_tag(theirs, "To"), _tag(ours, "To"))
        else:
            self._token(theirs.top_via.branch, ours.top_via.branch)
        self.cseq[theirs.cseq[0]] = ours.cseq[0]

    def _token(self, a: str | None, b: str | None) -> None:
        if a and b and a != b:
            self.tokens[a.encode()] = b.encode()

    def apply(self, data: bytes) -> bytes:
        head, sep, body = data.partition(b"\r\n\r\n")
        for old, new in self.tokens.items():
            head = head.replace(old, new)

        def cseq(m: re.Match[bytes]) -> bytes:
            number = int(m.group(2))
            return m.group(1) + str(self.cseq.get(number, number)).encode()

        return _CSEQ.sub(cseq, head) + sep + body


def _tag(msg: SipMessage, header: str) -> str | None:
    value = msg.headers.get(header)
    return NameAddr.parse(value).tag if value else None


def replay_client(
    trace: str,
    local_port: int,
    ua: UserAgent,
    start: Callable[[UserAgent, float], object],
    *,
    before_send: Callable[[UserAgent, SipMessage, float], None] | None = None,
    settle: float = 64.0,
    duplicate: frozenset[int] = frozenset(),
    extra: Callable[[SipMessage], bool] | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> Replay:
    """Replay `trace` from the point of view of the client on `local_port` (or of the
    server there: `start` then does nothing and `before_send` answers).

    `start(ua, 0.0)` begins the exchange. When the capture shows the client sending and our
    UA has nothing queued, `before_send(ua, captured_message, now)` is called so the test
    can trigger the user action (e.g. hang up before the BYE). After the last packet the
    timers run for `settle` seconds; what the UA then sends is reported as leftovers.
    Frames in `duplicate` are fed twice (a network duplicate, 10 ms later), to see the UA
    absorb a retransmitted response. Our messages for which `extra` is true may be missing
    from the capture (our 100 Trying where baresip sends none): set aside in `extras`.
    `on_event` sees each UA event as it comes (a UAS test learns the call's ref).
    """
    packets = [p for p in sip_packets(trace) if local_port in (p.src[1], p.dst[1])]
    if not packets:
        raise ReplayError(f"no SIP packets for port {local_port} in {trace}")
    t0 = packets[0].time
    result = Replay()
    rewriter = _Rewriter()
    queued: deque[tuple[bytes, Dest]] = deque()
    sent_before: set[bytes] = set()

    def drain(now: float) -> None:
        while (at := ua.get_timer()) is not None and at <= now:
            ua.handle_timer(at)
        for data, (host, port, transport) in ua.datagrams_to_send(now):
            if data in sent_before:
                result.retransmissions.append(data)
                continue
            sent_before.add(data)
            queued.append((data, (host, port, transport)))
        while (event := ua.next_event()) is not None:
            result.events.append(event)
            if on_event is not None:
                on_event(event)

    start(ua, 0.0)
    for p in packets:
        now = p.time - t0
        drain(now)
        if p.src[1] == local_port:
            theirs = parse_message(p.payload)
            while queued and extra is not None and extra(parse_message(queued[0][0])):
                result.extras.append(parse_message(queued.popleft()[0]))
            if not queued and before_send is not None:
                before_send(ua, theirs, now)
                drain(now)
            if not queued:
                raise ReplayError(
                    f"frame {p.index}: the client sent {_line(theirs)}, we sent nothing"
                )
            data, dest = queued.popleft()
            ours = parse_message(data)
            if _kind(ours) != _kind(theirs):
                raise ReplayError(f"frame {p.index}: client sent {_line(theirs)}, we {_line(ours)}")
            rewriter.learn(theirs, ours)
            result.pairs.append(Pair(p.index, theirs, ours, dest))
        else:
            data = rewriter.apply(p.payload)
            result.fed.append((p.index, data))
            ua.receive(data, p.src, "udp", now)
            drain(now)
            if p.index in duplicate:
                ua.receive(data, p.src, "udp", now + 0.01)
                drain(now + 0.01)
    end = packets[-1].time - t0
    drain(end + settle)
    result.leftovers = list(queued)
    return result


def _kind(msg: SipMessage) -> str:
    return msg.method if isinstance(msg, SipRequest) else f"response {msg.status}"


def _line(msg: SipMessage) -> str:
    return msg.start_line()
