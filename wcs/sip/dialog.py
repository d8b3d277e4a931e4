"""Dialog state and in-dialog request construction (RFC 3261 §12)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from .errors import SipParseError
from .message import Headers, SipRequest, SipResponse
from .uri import NameAddr, SipUri


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: NameAddr  # our From (with tag)
    remote_uri: NameAddr  # their To/From (with tag)
    remote_target: SipUri
    local_seq: int
    remote_seq: int | None = None
    route_set: list[NameAddr] = field(default_factory=list)

    @classmethod
    def from_uac(cls, request: SipRequest, response: SipResponse) -> Dialog:
        """§12.1.2: UAC side, from our request and a 2xx/1xx-with-tag response."""
        local = NameAddr.parse(request.headers.get("From") or "")
        remote = NameAddr.parse(response.headers.get("To") or "")
        contacts = response.headers.get_all("Contact")
        target = NameAddr.parse(contacts[0]).uri if contacts else SipUri.parse(request.uri)
        # Record-Route is reversed for the UAC side.
        routes = [NameAddr.parse(v) for v in reversed(response.headers.get_all("Record-Route"))]
        return cls(
            call_id=request.call_id,
            local_tag=local.tag or "",
            remote_tag=remote.tag or "",
            local_uri=local,
            remote_uri=remote,
            remote_target=target,
            local_seq=request.cseq[0],
            route_set=routes,
        )

    @classmethod
    def from_uas(cls, request: SipRequest, local_tag: str) -> Dialog:
        """§12.1.1: UAS side, from the peer's INVITE and the To tag of our answer."""
        remote = NameAddr.parse(request.headers.get("From") or "")
        local = NameAddr.parse(request.headers.get("To") or "")
        local.params["tag"] = local_tag
        contacts = request.headers.get_all("Contact")
        if not contacts:
            raise SipParseError("INVITE without Contact")
        # Record-Route keeps its order on the UAS side
        routes = [NameAddr.parse(v) for v in request.headers.get_all("Record-Route")]
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote.tag or "",
            local_uri=local,
            remote_uri=remote,
            remote_target=NameAddr.parse(contacts[0]).uri,
            local_seq=0,
            remote_seq=request.cseq[0],
            route_set=routes,
        )

    @property
    def id(self) -> tuple[str, str, str]:
        return self.call_id, self.local_tag, self.remote_tag

    def next_cseq(self) -> int:
        self.local_seq += 1
        return self.local_seq

    def update_target(self, message: SipRequest | SipResponse) -> None:
        """Target refresh (§12.2): a Contact in re-INVITE/UPDATE or its 2xx replaces it."""
        contacts = message.headers.get_all("Contact")
        if contacts:
            # a bad Contact keeps the old target rather than breaking the dialog
            with contextlib.suppress(SipParseError):
                self.remote_target = NameAddr.parse(contacts[0]).uri

    def next_hop(self) -> SipUri:
        """§8.1.2: the top Route if any, else the remote target."""
        return self.route_set[0].uri if self.route_set else self.remote_target

    def request(self, method: str, cseq: int | None = None) -> SipRequest:
        """§12.2.1.1: Request-URI and Route from the route set (loose or strict)."""
        number = self.next_cseq() if cseq is None else cseq
        h = Headers()
        routes = [str(r) for r in self.route_set]
        if self.route_set and "lr" not in self.route_set[0].uri.params:
            # strict router: it goes in the Request-URI, the remote target becomes last Route
            first = self.route_set[0].uri.copy()
            first.headers.clear()
            uri = str(first)
            routes = [*routes[1:], f"<{self.remote_target}>"]
        else:
            uri = str(self.remote_target)
        for r in routes:
            h.add("Route", r)
        h.add("Max-Forwards", "70")
        h.add("From", str(self.local_uri))
        h.add("To", str(self.remote_uri))
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{number} {method}")
        return SipRequest(method, uri, h)

    def ack(self, invite_cseq: int) -> SipRequest:
        """§13.2.2.4: ACK for a 2xx, same CSeq number as the INVITE."""
        return self.request("ACK", cseq=invite_cseq)

    def check_remote_seq(self, number: int) -> bool:
        """§12.2.2: lower than the last remote CSeq is out of order (answer 500)."""
        if self.remote_seq is not None and number <= self.remote_seq:
            return False
        self.remote_seq = number
        return True
