"""The demo callee's SIP side, sans-IO: a minimal UAS that answers INVITEs to one user.

Feed it ``receive(data, addr, now)`` and ``handle_timer(now)``; drain ``datagrams_to_send(now)``,
``get_timer()`` and ``next_event()``. It rings for ``ring_delay`` seconds (180), then answers
(200 with an SDP answer made by :func:`wcs.sdp.answer_offer`, PCMU audio and H.264 video),
retransmits the 200 until the ACK (RFC 3261 §13.3.1.4, UDP), answers re-INVITE/UPDATE/INFO/
OPTIONS, and ends the call on BYE or CANCEL. It never registers and never places calls; the
only request it sends is a BYE when a call reaches ``max_duration`` (a caller that vanished
without BYE must not keep an encoder busy forever).
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from wcs import sdp
from wcs.sip.errors import SipParseError
from wcs.sip.message import Headers, SipRequest, SipResponse, parse_message
from wcs.sip.uri import NameAddr, SipUri, format_hostport
from wcs.sip.via import MAGIC_COOKIE

log = logging.getLogger(__name__)

Addr = tuple[str, int]
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
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
    key: str  # the SIP Call-ID
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
class _Dialog:
    key: str
    invite: SipRequest
    addr: Addr
    to_tag: str
    ports: dict[str, int]
    state: str = "ringing"  # ringing -> answered (200 sent) -> confirmed (ACK) -> ended
    local_sdp: sdp.SessionDescription | None = None
    last_response: bytes = b""
    retransmit_cseq: int | None = None  # CSeq of the INVITE whose 2xx awaits its ACK
    interval: float = 0.0
    give_up_at: float = 0.0
    local_cseq: int = 0
    started_at: float = 0.0
    started: bool = False
    timers: dict[str, float] = field(default_factory=dict)


class DemoUas:
    def __init__(
        self,
        host: str,
        port: int,
        allocate_ports: Callable[[str], Mapping[str, int]],
        *,
        user: str = "demo",
        ring_delay: float = 1.0,
        max_duration: float = 3600.0,
        t1: float = 0.5,
        t2: float = 4.0,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.ring_delay = ring_delay
        self.max_duration = max_duration
        self.t1 = t1
        self.t2 = t2
        self._allocate_ports = allocate_ports
        self._dialogs: dict[str, _Dialog] = {}
        self._out: list[tuple[bytes, Addr]] = []
        self._events: deque[Event] = deque()
        self.malformed = 0  # datagrams that were not SIP (dropped)

    # ------------------------------------------------------------------ sans-IO surface
    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        deadlines = [t for d in self._dialogs.values() for t in d.timers.values()]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        for dialog in list(self._dialogs.values()):
            for name, when in list(dialog.timers.items()):
                if when <= now and dialog.timers.get(name) == when:
                    del dialog.timers[name]
                    self._fire(dialog, name, now)

    def active_calls(self) -> int:
        return len(self._dialogs)

    def receive(self, data: bytes, addr: Addr, now: float) -> None:
        if not data.strip():
            return  # keep-alive CRLFs
        try:
            msg = parse_message(data)
            if isinstance(msg, SipResponse):
                return  # the 200 to our BYE: nothing to do
            msg.top_via  # noqa: B018 -- a request without a usable Via cannot be answered
            msg.cseq  # noqa: B018
            NameAddr.parse(msg.headers.get("From") or "")
            NameAddr.parse(msg.headers.get("To") or "")
            if not msg.call_id:
                raise SipParseError("no Call-ID")
        except (SipParseError, ValueError) as exc:
            self.malformed += 1
            log.debug("demo callee: dropped a malformed datagram from %s: %s", addr, exc)
            return
        handler = {
            "INVITE": self._on_invite,
            "ACK": self._on_ack,
            "BYE": self._on_bye,
            "CANCEL": self._on_cancel,
            "OPTIONS": self._on_simple,
            "INFO": self._on_simple,
            "UPDATE": self._on_update,
        }.get(msg.method)
        if handler is None:
            self._respond(msg, addr, 405, "Method Not Allowed", extra=[("Allow", ALLOW)])
            return
        handler(msg, addr, now)

    # ------------------------------------------------------------------ requests
    def _on_invite(self, req: SipRequest, addr: Addr, now: float) -> None:
        dialog = self._dialogs.get(req.call_id)
        to_tag = NameAddr.parse(req.headers.get("To") or "").tag
        if dialog is not None and to_tag is None:
            # A retransmission of the initial INVITE: repeat what we last said.
            if dialog.last_response:
                self._out.append((dialog.last_response, addr))
            return
        if to_tag is not None:
            self._on_reinvite(dialog, req, addr, now)
            return
        try:
            uri = SipUri.parse(req.uri)
        except SipParseError:
            self._respond(req, addr, 400, "Bad Request-URI")
            return
        if uri.user != self.user:
            self._respond(req, addr, 404, "Not Found")
            return
        offer = _parse_sdp(req.body)
        if offer is None:
            self._respond(req, addr, 488, "Not Acceptable Here")
            return
        try:
            ports = dict(self._allocate_ports(req.call_id))
        except OSError as exc:
            log.warning("demo callee: no media ports: %s", exc)
            self._respond(req, addr, 503, "Service Unavailable")
            return
        dialog = _Dialog(req.call_id, req, addr, secrets.token_hex(6), ports, started_at=now)
        try:
            dialog.local_sdp = self._answer(offer, dialog, None)
        except sdp.SdpError:
            self._respond(req, addr, 488, "Not Acceptable Here")
            self._events.append(CallEnded(req.call_id, "no common codec"))  # release ports
            return
        if not _targets(offer, dialog.local_sdp):
            self._respond(req, addr, 488, "Not Acceptable Here")
            self._events.append(CallEnded(req.call_id, "no common codec"))
            return
        self._dialogs[req.call_id] = dialog
        dialog.last_response = self._respond(req, addr, 180, "Ringing", dialog=dialog)
        dialog.timers["answer"] = now + self.ring_delay

    def _on_reinvite(self, dialog: _Dialog | None, req: SipRequest, addr: Addr, now: float) -> None:
        if dialog is None or dialog.state == "ringing":
            self._respond(req, addr, 481, "Call/Transaction Does Not Exist")
            return
        if dialog.retransmit_cseq == req.cseq[0]:
            self._out.append((dialog.last_response, addr))  # retransmitted re-INVITE
            return
        body = self._reoffer(dialog, req)
        if body is None:
            self._respond(req, addr, 488, "Not Acceptable Here", dialog=dialog)
            return
        self._send_2xx(dialog, req, addr, body, now)

    def _on_update(self, req: SipRequest, addr: Addr, now: float) -> None:
        dialog = self._dialogs.get(req.call_id)
        if dialog is None:
            self._respond(req, addr, 481, "Call/Transaction Does Not Exist")
            return
        if not req.body:  # a session refresh
            self._respond(req, addr, 200, "OK", dialog=dialog)
            return
        body = self._reoffer(dialog, req)
        if body is None:
            self._respond(req, addr, 488, "Not Acceptable Here", dialog=dialog)
            return
        self._respond(req, addr, 200, "OK", dialog=dialog, body=body)

    def _reoffer(self, dialog: _Dialog, req: SipRequest) -> bytes | None:
        """Answer an in-dialog offer (or re-send our SDP for an offerless one)."""
        if not req.body:
            assert dialog.local_sdp is not None
            return str(dialog.local_sdp).encode()
        offer = _parse_sdp(req.body)
        if offer is None:
            return None
        try:
            dialog.local_sdp = self._answer(offer, dialog, dialog.local_sdp)
        except sdp.SdpError:
            return None
        self._events.append(CallUpdated(dialog.key, _targets(offer, dialog.local_sdp)))
        return str(dialog.local_sdp).encode()

    def _on_ack(self, req: SipRequest, addr: Addr, now: float) -> None:
        dialog = self._dialogs.get(req.call_id)
        if dialog is None or dialog.retransmit_cseq != req.cseq[0]:
            return
        dialog.retransmit_cseq = None
        dialog.timers.pop("retransmit", None)
        dialog.state = "confirmed"

    def _on_bye(self, req: SipRequest, addr: Addr, now: float) -> None:
        dialog = self._dialogs.pop(req.call_id, None)
        if dialog is None:
            self._respond(req, addr, 481, "Call/Transaction Does Not Exist")
            return
        self._respond(req, addr, 200, "OK", dialog=dialog)
        self._end(dialog, "BYE")

    def _on_cancel(self, req: SipRequest, addr: Addr, now: float) -> None:
        dialog = self._dialogs.get(req.call_id)
        if dialog is None or dialog.invite.top_via.branch != req.top_via.branch:
            self._respond(req, addr, 481, "Call/Transaction Does Not Exist")
            return
        self._respond(req, addr, 200, "OK")
        if dialog.state != "ringing":
            return  # already answered: CANCEL has no effect (§9.2)
        del self._dialogs[dialog.key]
        self._respond(dialog.invite, dialog.addr, 487, "Request Terminated", dialog=dialog)
        self._end(dialog, "CANCEL")

    def _on_simple(self, req: SipRequest, addr: Addr, now: float) -> None:
        dialog = self._dialogs.get(req.call_id)
        extra = [("Allow", ALLOW), ("Accept", "application/sdp")]
        self._respond(req, addr, 200, "OK", dialog=dialog, extra=extra)

    # ------------------------------------------------------------------ timers
    def _fire(self, dialog: _Dialog, name: str, now: float) -> None:
        if name == "answer":
            assert dialog.local_sdp is not None
            self._send_2xx(dialog, dialog.invite, dialog.addr, str(dialog.local_sdp).encode(), now)
            offer = _parse_sdp(dialog.invite.body)
            assert offer is not None
            dialog.timers["max_duration"] = now + self.max_duration
            self._events.append(CallStarted(dialog.key, _targets(offer, dialog.local_sdp)))
            dialog.started = True
        elif name == "retransmit":
            if now >= dialog.give_up_at:
                # §13.3.1.4: no ACK within 64*T1 ends the session.
                self._dialogs.pop(dialog.key, None)
                self._send_bye(dialog)
                self._end(dialog, "no ACK")
                return
            self._out.append((dialog.last_response, dialog.addr))
            dialog.interval = min(dialog.interval * 2, self.t2)
            dialog.timers["retransmit"] = now + dialog.interval
        elif name == "max_duration":
            self._dialogs.pop(dialog.key, None)
            self._send_bye(dialog)
            self._end(dialog, "maximum duration")

    # ------------------------------------------------------------------ building blocks
    def _answer(
        self,
        offer: sdp.SessionDescription,
        dialog: _Dialog,
        previous: sdp.SessionDescription | None,
    ) -> sdp.SessionDescription:
        # sendonly: the demo only talks; a hold offer (sendonly from them) gives inactive.
        return sdp.answer_offer(
            offer,
            demo_codecs(),
            self.host,
            dialog.ports,
            direction="sendonly",
            session_id=secrets.randbits(31),
            previous=previous,
        )

    def _send_2xx(
        self, dialog: _Dialog, req: SipRequest, addr: Addr, body: bytes, now: float
    ) -> None:
        dialog.last_response = self._respond(req, addr, 200, "OK", dialog=dialog, body=body)
        dialog.state = "answered" if dialog.state == "ringing" else dialog.state
        dialog.retransmit_cseq = req.cseq[0]
        dialog.interval = self.t1
        dialog.give_up_at = now + 64 * self.t1
        dialog.timers["retransmit"] = now + self.t1

    def _respond(
        self,
        req: SipRequest,
        addr: Addr,
        status: int,
        reason: str,
        *,
        dialog: _Dialog | None = None,
        body: bytes = b"",
        extra: list[tuple[str, str]] | None = None,
    ) -> bytes:
        h = Headers()
        for via in req.headers.get_all("Via"):
            h.add("Via", via)
        to = NameAddr.parse(req.headers.get("To") or "")
        if to.tag is None and status > 100:
            to.params["tag"] = dialog.to_tag if dialog else secrets.token_hex(6)
        h.add("From", req.headers.get("From") or "")
        h.add("To", str(to))
        h.add("Call-ID", req.call_id)
        h.add("CSeq", req.headers.get("CSeq") or "")
        if req.method in ("INVITE", "UPDATE") and 100 < status < 300:
            h.add("Contact", f"<{self._contact()}>")
        for name, value in extra or []:
            h.add(name, value)
        h.add("Server", USER_AGENT)
        if body:
            h.add("Content-Type", "application/sdp")
        data = SipResponse(status, reason, h, body).serialize()
        # rport (RFC 3581): answer where the request came from.
        self._out.append((data, addr))
        return data

    def _send_bye(self, dialog: _Dialog) -> None:
        inv = dialog.invite
        their = NameAddr.parse(inv.headers.get("From") or "")
        ours = NameAddr.parse(inv.headers.get("To") or "")
        ours.params["tag"] = dialog.to_tag
        target = inv.headers.get("Contact") or str(their)
        try:
            uri = NameAddr.parse(target).uri
        except SipParseError:
            uri = their.uri
        dialog.local_cseq += 1
        h = Headers()
        h.add("Via", f"SIP/2.0/UDP {self._hostport()};branch={MAGIC_COOKIE}{secrets.token_hex(8)}")
        h.add("Max-Forwards", "70")
        h.add("From", str(ours))
        h.add("To", str(their))
        h.add("Call-ID", dialog.key)
        h.add("CSeq", f"{dialog.local_cseq} BYE")
        h.add("User-Agent", USER_AGENT)
        self._out.append((SipRequest("BYE", str(uri), h).serialize(), dialog.addr))

    def _end(self, dialog: _Dialog, reason: str) -> None:
        dialog.state = "ended"
        dialog.timers.clear()
        self._events.append(CallEnded(dialog.key, reason))

    def _hostport(self) -> str:
        return format_hostport(self.host, self.port)

    def _contact(self) -> str:
        return f"sip:{self.user}@{self._hostport()}"


def _parse_sdp(body: bytes) -> sdp.SessionDescription | None:
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
