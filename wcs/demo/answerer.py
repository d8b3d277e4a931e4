"""The demo callee's SIP side: a small answering policy on our own UAS (sans-IO).

:class:`DemoAnswerer` owns a :class:`wcs.sip.ua.UserAgent` with the UAS role on and decides
what each of its events means for the demo: an INVITE to ``user`` rings (180) for
``ring_delay`` seconds, then is answered (200 with an SDP answer made by
:func:`wcs.sdp.answer_offer`: PCMU audio and H.264 video, ``sendonly``); another user gets 404,
an INVITE without an offer or with no codec in common 488, no free media port 503. A call
that reaches ``max_duration`` is hung up (a caller that vanished without BYE must not keep
an encoder busy forever). Everything else (100 Trying, the 2xx retransmitted until the ACK,
CANCEL → 487, BYE, re-INVITE/UPDATE, OPTIONS, INFO, session timers) is the UA's.

It keeps the sans-IO contract of the UA it wraps: ``receive(data, addr, now)`` (UDP),
``handle_timer(now)``, and drains ``datagrams_to_send(now)``, ``get_timer()``,
``next_event()`` — the events being the demo's media events (:class:`CallStarted`,
:class:`CallUpdated`, :class:`CallEnded`), keyed by the UA's call reference.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from wcs import sdp
from wcs.sip import events as sev
from wcs.sip.transaction import SipTimers
from wcs.sip.ua import UserAgent

log = logging.getLogger(__name__)

Addr = tuple[str, int]
USER_AGENT = "wcs-demo-callee"


def demo_codecs() -> dict[str, list[sdp.Codec]]:
    """What the demo sends: a PCMU tone and H.264 (baseline, packetization-mode 1)."""
    return {
        "audio": [sdp.Codec(0, "PCMU", 8000)],
        "video": [
            sdp.Codec(96, "H264", 90000, None, "packetization-mode=1;profile-level-id=42e01f")
        ],
    }


@dataclass(frozen=True, slots=True)
class MediaTarget:
    """Where one kind of demo media goes, and with which payload type."""

    kind: str  # "audio" | "video"
    address: Addr
    payload_type: int
    codec: str


@dataclass(frozen=True, slots=True)
class CallStarted:
    key: str  # the UA's call reference
    targets: tuple[MediaTarget, ...]


@dataclass(frozen=True, slots=True)
class CallUpdated:
    """A re-INVITE/UPDATE changed where (or whether) media goes; empty targets: on hold."""

    key: str
    targets: tuple[MediaTarget, ...]


@dataclass(frozen=True, slots=True)
class CallEnded:
    key: str
    reason: str


Event = CallStarted | CallUpdated | CallEnded


@dataclass(slots=True)
class _DemoCall:
    ref: str
    offer: sdp.SessionDescription
    ports: dict[str, int]
    local: sdp.SessionDescription
    deadlines: dict[str, float] = field(default_factory=dict)  # "answer", "max_duration"


class DemoAnswerer:
    def __init__(
        self,
        host: str,
        port: int,
        allocate_ports: Callable[[str], Mapping[str, int]],
        *,
        user: str = "demo",
        ring_delay: float = 1.0,
        max_duration: float = 3600.0,
        timers: SipTimers = SipTimers(),  # noqa: B008 - frozen, shared safely
    ) -> None:
        self.host = host
        self.user = user
        self.ring_delay = ring_delay
        self.max_duration = max_duration
        self.ua = UserAgent(
            local_port=port, public_ip=host, user_agent=USER_AGENT, timers=timers, incoming=True
        )
        self._allocate_ports = allocate_ports
        self._calls: dict[str, _DemoCall] = {}
        self._events: deque[Event] = deque()

    @property
    def port(self) -> int:
        return self.ua.local_port

    @port.setter
    def port(self, port: int) -> None:
        self.ua.local_port = port

    # ------------------------------------------------------------------ sans-IO surface
    def receive(self, data: bytes, addr: Addr, now: float) -> None:
        self.ua.receive(data, addr, "udp", now)
        self._drain(now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        return [(data, (host, port)) for data, (host, port, _t) in self.ua.datagrams_to_send(now)]

    def get_timer(self) -> float | None:
        ours = [t for c in self._calls.values() for t in c.deadlines.values()]
        theirs = self.ua.get_timer()
        if theirs is not None:
            ours.append(theirs)
        return min(ours) if ours else None

    def handle_timer(self, now: float) -> None:
        self.ua.handle_timer(now)
        for call in list(self._calls.values()):
            for name, when in list(call.deadlines.items()):
                if when <= now and call.deadlines.get(name) == when:
                    del call.deadlines[name]
                    self._fire(call, name, now)
        self._drain(now)

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def active_calls(self) -> int:
        return len(self._calls)

    # ------------------------------------------------------------------ the UA's events
    def _drain(self, now: float) -> None:
        while (event := self.ua.next_event()) is not None:
            if isinstance(event, sev.IncomingCall):
                self._on_incoming(event, now)
            elif isinstance(event, sev.RemoteOffer):
                self._on_offer(event, now)
            elif isinstance(event, sev.CallFailed):
                self._end(event.ref, event.info or event.reason)
            elif isinstance(event, sev.CallReleased):
                self._end(event.ref, "BYE" if event.by_remote else event.info)

    def _on_incoming(self, event: sev.IncomingCall, now: float) -> None:
        ref = event.ref
        if event.callee != self.user:
            self.ua.reject(ref, 404, "Not Found", now)
            return
        offer = _parse_sdp(event.sdp)
        if offer is None:
            self.ua.reject(ref, 488, "Not Acceptable Here", now)
            return
        try:
            ports = dict(self._allocate_ports(ref))
        except OSError as exc:
            log.warning("demo callee: no media ports: %s", exc)
            self.ua.reject(ref, 503, "Service Unavailable", now)
            return
        try:
            local = self._answer(offer, ports, None)
        except sdp.SdpError:
            local = None
        if local is None or not _targets(offer, local):
            self.ua.reject(ref, 488, "Not Acceptable Here", now)
            self._events.append(CallEnded(ref, "no common codec"))  # release the ports
            return
        call = _DemoCall(ref, offer, ports, local)
        self._calls[ref] = call
        self.ua.ring(ref, now)
        call.deadlines["answer"] = now + self.ring_delay

    def _on_offer(self, event: sev.RemoteOffer, now: float) -> None:
        call = self._calls.get(event.ref)
        if call is None:
            self.ua.answer_offer(event.ref, None, now)
            return
        if event.sdp is None:  # an offerless re-INVITE: our SDP is the new offer
            self.ua.answer_offer(event.ref, str(call.local).encode(), now)
            return
        offer = _parse_sdp(event.sdp)
        try:
            local = self._answer(offer, call.ports, call.local) if offer else None
        except sdp.SdpError:
            local = None
        if offer is None or local is None:
            self.ua.answer_offer(event.ref, None, now)  # 488
            return
        call.offer, call.local = offer, local
        self.ua.answer_offer(event.ref, str(local).encode(), now)
        self._events.append(CallUpdated(call.ref, _targets(offer, local)))

    def _fire(self, call: _DemoCall, name: str, now: float) -> None:
        if name == "answer":
            self.ua.accept(call.ref, str(call.local).encode(), now)
            call.deadlines["max_duration"] = now + self.max_duration
            self._events.append(CallStarted(call.ref, _targets(call.offer, call.local)))
        elif name == "max_duration":
            log.info("demo callee: call %s reached its maximum duration", call.ref)
            self.ua.hangup(call.ref, now)

    def _end(self, ref: str, reason: str) -> None:
        if self._calls.pop(ref, None) is not None:
            self._events.append(CallEnded(ref, reason))

    def _answer(
        self,
        offer: sdp.SessionDescription,
        ports: Mapping[str, int],
        previous: sdp.SessionDescription | None,
    ) -> sdp.SessionDescription:
        # sendonly: the demo only talks; a hold offer (sendonly from them) gives inactive.
        return sdp.answer_offer(
            offer,
            demo_codecs(),
            self.host,
            ports,
            direction="sendonly",
            session_id=secrets.randbits(31),
            previous=previous,
        )


def _parse_sdp(body: bytes | None) -> sdp.SessionDescription | None:
    if not body:
        return None
    try:
        return sdp.SessionDescription.parse(body.decode("utf-8", "replace"))
    except sdp.SdpError:
        return None


def _targets(
    offer: sdp.SessionDescription, answer: sdp.SessionDescription
) -> tuple[MediaTarget, ...]:
    """Where to send what: the offer's address per m-line we accepted with a send direction."""
    out = []
    for theirs, ours in zip(offer.media, answer.media, strict=False):
        if ours.rejected or not ours.codecs:
            continue
        if sdp.direction_of(ours, answer) not in ("sendonly", "sendrecv"):
            continue
        conn = offer.connection_for(theirs)
        if conn is None or sdp.zero_address_hold(theirs, offer):
            continue
        codec = ours.codecs[0]
        out.append(MediaTarget(ours.kind, (conn.host, theirs.port), codec.payload_type, codec.name))
    return tuple(out)
