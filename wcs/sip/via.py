"""Via header values (RFC 3261 §20.42, RFC 3581 rport)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import SipParseError
from .grammar import format_params, parse_params
from .uri import _split_hostport, canonical_host, format_hostport, same_host

MAGIC_COOKIE = "z9hG4bK"

_PROTOCOL = re.compile(r"^\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z0-9.!%*_+`'~-]+)\s+(.*)$", re.DOTALL)


@dataclass
class Via:
    host: str
    port: int | None = None
    transport: str = "UDP"
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: str) -> Via:
        m = _PROTOCOL.match(value)
        if not m:
            raise SipParseError(f"bad Via protocol in {value!r}")
        transport = m.group(1).upper()
        rest = m.group(2).strip()
        sent_by, _, param_text = rest.partition(";")
        sent_by = "".join(sent_by.split())  # LWS is allowed around ':'
        host, port = _split_hostport(sent_by)
        params = parse_params(param_text)
        rport = params.get("rport")
        if rport is not None and not rport.isdigit():
            raise SipParseError(f"bad rport {rport!r}")
        return cls(host=host, port=port, transport=transport, params=params)

    def __str__(self) -> str:
        return (
            f"SIP/2.0/{self.transport} {format_hostport(self.host, self.port)}"
            f"{format_params(self.params)}"
        )

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return self.host, self.port

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        value = self.params.get("rport")
        return int(value) if value else None

    def stamp_received(self, source: tuple[str, int]) -> None:
        """§18.2.1 + RFC 3581 §4: record where the request really came from.

        ``received`` holds a bare address (RFC 3261 grammar: IPv4address / IPv6address, no
        brackets) in its canonical spelling; an IPv4-mapped source is written as IPv4."""
        ip = canonical_host(source[0])
        if "rport" in self.params:
            self.params["rport"] = str(source[1])
            self.params["received"] = ip
        elif not same_host(self.host, ip):
            self.params["received"] = ip

    def response_address(self, default_port: int = 5060) -> tuple[str, int]:
        """Where responses go (§18.2.2 with RFC 3581): received/rport over sent-by."""
        host = self.received or self.host
        host = host[1:-1] if host.startswith("[") else host
        port = self.rport or self.port or default_port
        return host, port
