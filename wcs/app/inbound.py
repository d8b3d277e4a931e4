"""Who may call us and what an accepted incoming call becomes (pure policy, no I/O).

An incoming INVITE is routed by the first that applies:

1. a registration of ours whose ``sipLogin`` is the Request-URI user (the registrar routed
   the call to the Contact we registered): its dispatch;
2. an inbound trunk whose allow-list holds the source address (or that has no allow-list but
   credentials): when it has credentials, the INVITE must carry a Digest Authorization for
   them (else 401 with a fresh challenge, MD5 and SHA-256); a trunk limited to ``numbers``
   answers other callees 404;
3. otherwise 404 when registrations exist but none is that user and no trunk is configured,
   else 403 — with nothing configured every incoming call is refused (safe by default).

A :class:`Dispatch` says which stream the call publishes (``toStream`` template with
``{caller}``, ``{callee}``, ``{callId}``, ``{date}``; default ``{callee}-{caller}``), its
tracks, recording, direct RTMP push, how it is answered: ``auto``, ``ring`` (wait for
``/call/answer`` or ``/call/reject``) or ``hook`` (ask the appKey's backend), and an optional
``pin`` the caller must key before the stream is published (:mod:`wcs.app.inbound_pin`).
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wcs.sip import digest_server
from wcs.sip.account import Account

DEFAULT_TEMPLATE = "{callee}-{caller}"
ANSWER_MODES = ("auto", "ring", "hook")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Dispatch:
    to_stream: str = DEFAULT_TEMPLATE
    has_audio: bool = True
    has_video: bool = True
    record: bool = False
    rtmp_url: str | None = None
    answer: str = "auto"
    app_key: str = "defaultApp"
    ring_timeout: float = 60.0  # ring/hook: no decision this long → 480
    hook_timeout: float = 5.0  # hook: no answer this long → hook_default
    hook_default: str = "reject"  # "accept" | "reject"
    pin: str = field(default="", repr=False)  # keys + '#' before the stream is published
    pin_timeout: float | None = None  # None: the server's inbound_pin_timeout

    def stream_name(self, caller: str, callee: str, call_id: str, now: float | None = None) -> str:
        """The template filled in; characters a stream name cannot hold become '_'."""
        date = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
        values = {"caller": caller, "callee": callee, "callId": call_id, "date": date}
        name = self.to_stream
        for key, value in values.items():
            name = name.replace("{" + key + "}", value)
        return _UNSAFE.sub("_", name)[:200] or call_id


@dataclass(frozen=True)
class Trunk:
    name: str
    allowed: tuple[Network, ...] = ()
    username: str = ""
    password: str = field(default="", repr=False)
    realm: str = "wcs"
    algorithms: tuple[str, ...] = ("SHA-256", "MD5")
    numbers: tuple[str, ...] = ()  # callees served; empty: any
    dispatch: Dispatch = field(default_factory=Dispatch)

    def admits(self, host: str) -> bool:
        if not self.allowed:
            return bool(self.username)  # credentials alone guard it
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in self.allowed)


def networks(items: Sequence[str]) -> tuple[Network, ...]:
    """``["10.0.0.0/8", "192.0.2.7"]`` → networks; ValueError names a bad entry."""
    out = []
    for item in items:
        try:
            out.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an address or CIDR: {item!r}") from None
    return tuple(out)


@dataclass(frozen=True)
class Route:
    """Accept: the dispatch, our account for the call, who routed it (registration/trunk)."""

    dispatch: Dispatch
    account: Account
    via: str


@dataclass(frozen=True)
class Refuse:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Offer:
    """What the policy needs to know of an incoming INVITE."""

    caller: str
    callee: str
    domain: str
    source: str
    authorization: str | None


class InboundPolicy:
    def __init__(
        self,
        trunks: Sequence[Trunk],
        registered: Callable[[str], tuple[Account, Dispatch] | None],
        has_registrations: Callable[[], bool],
    ) -> None:
        self.trunks = list(trunks)
        self._registered = registered
        self._has_registrations = has_registrations

    def decide(self, offer: Offer, now: float) -> Route | Refuse:
        reg = self._registered(offer.callee)
        if reg is not None:
            account, dispatch = reg
            return Route(dispatch, account, "registration")
        admitting = [t for t in self.trunks if t.admits(offer.source)]
        if not admitting:
            if self._has_registrations() and not self.trunks:
                return Refuse(404, "Not Found")
            return Refuse(403, "Forbidden")
        for trunk in admitting:
            if trunk.numbers and offer.callee not in trunk.numbers:
                continue
            if trunk.username and not digest_server.verify(
                offer.authorization,
                method="INVITE",
                username=trunk.username,
                password=trunk.password,
                realm=trunk.realm,
                algorithms=trunk.algorithms,
                now=now,
            ):
                values = digest_server.challenges(trunk.realm, trunk.algorithms, now)
                return Refuse(401, "Unauthorized", tuple(("WWW-Authenticate", v) for v in values))
            account = Account(login=offer.callee or trunk.name, domain=offer.domain)
            return Route(trunk.dispatch, account, f"trunk {trunk.name}")
        return Refuse(404, "Not Found")
