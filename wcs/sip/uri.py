"""SIP URIs and name-addr / addr-spec values (RFC 3261 §19.1, §20.10, §25.1)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

from .errors import SipParseError
from .grammar import (
    find_unquoted,
    format_params,
    parse_params,
    quote,
    split_outside_quotes,
    unquote,
)


def _split_hostport(text: str) -> tuple[str, int | None]:
    if not text:
        raise SipParseError("missing host")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"unterminated IPv6 reference in {text!r}")
        host = text[: end + 1]
        rest = text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise SipParseError(f"junk after IPv6 reference in {text!r}")
        port_text = rest[1:] if rest else None
    else:
        if text.count(":") > 1:
            raise SipParseError(f"bad host:port {text!r}")
        host, _, port_text = text.partition(":")
        port_text = port_text if ":" in text else None
        if not host or any(c in host for c in ' \t<>"@'):
            raise SipParseError(f"bad host {host!r}")
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SipParseError(f"bad port {port_text!r}")
        port = int(port_text)
    return host, port


def format_hostport(host: str, port: int | None) -> str:
    """``host[:port]``; an IPv6 literal in brackets (RFC 3261 §25.1 IPv6reference)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # bare IPv6 literal given by an edge
    return host if port is None else f"{host}:{port}"


def canonical_host(host: str) -> str:
    """A host for comparisons: IP literals in one spelling (``[0:0::1]`` -> ``::1``, an
    IPv4-mapped one as IPv4), names lower-cased."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        addr = ipaddress.ip_address(bare)
    except ValueError:
        return host.lower()
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def same_host(a: str, b: str) -> bool:
    return canonical_host(a) == canonical_host(b)


@dataclass
class SipUri:
    """sip: / sips: URI. `host` keeps IPv6 brackets as written."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    scheme: str = "sip"
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> SipUri:
        text = text.strip()
        if any(c in text for c in " \t\r\n<>"):
            raise SipParseError(f"whitespace or <> inside URI {text!r}")
        scheme, colon, rest = text.partition(":")
        scheme = scheme.lower()
        if not colon or scheme not in ("sip", "sips"):
            raise SipParseError(f"not a sip/sips URI: {text!r}")
        rest, qmark, header_text = rest.partition("?")
        headers: dict[str, str] = {}
        if qmark:
            for item in header_text.split("&"):
                if not item:
                    continue
                name, _, value = item.partition("=")
                headers[name] = value
        user: str | None = None
        password: str | None = None
        at = rest.rfind("@")
        if at >= 0:
            userinfo = rest[:at]
            rest = rest[at + 1 :]
            if not userinfo:
                raise SipParseError(f"empty user part in {text!r}")
            user, pcolon, pw = userinfo.partition(":")
            password = pw if pcolon else None
        hostport, _, param_text = rest.partition(";")
        host, port = _split_hostport(hostport)
        return cls(
            host=host,
            user=user,
            password=password,
            port=port,
            scheme=scheme,
            params=parse_params(param_text),
            headers=headers,
        )

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(format_hostport(self.host, self.port))
        out.append(format_params(self.params))
        if self.headers:
            out.append("?" + "&".join(f"{k}={v}" for k, v in self.headers.items()))
        return "".join(out)

    @property
    def transport(self) -> str:
        value = self.params.get("transport")
        return (value or "udp").lower()

    def copy(self) -> SipUri:
        return replace(self, params=dict(self.params), headers=dict(self.headers))


@dataclass
class NameAddr:
    """`"Display" <uri>;tag=x` or `uri;tag=x` (addr-spec: params belong to the header)."""

    uri: SipUri
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        text = text.strip()
        if not text:
            raise SipParseError("empty address")
        lt = find_unquoted(text, "<")
        if lt >= 0:
            gt = text.find(">", lt)
            if gt < 0:
                raise SipParseError(f"missing '>' in {text!r}")
            display_text = text[:lt].strip()
            display = unquote(display_text) if display_text else None
            uri = SipUri.parse(text[lt + 1 : gt])
            tail = text[gt + 1 :].strip()
            if tail and not tail.startswith(";"):
                raise SipParseError(f"junk after '>' in {text!r}")
            return cls(uri=uri, display=display, params=parse_params(tail[1:]))
        uri_text, _, param_text = text.partition(";")
        if " " in uri_text.strip():
            raise SipParseError(f"bad address {text!r}")
        return cls(uri=SipUri.parse(uri_text), params=parse_params(param_text))

    def __str__(self) -> str:
        head = f"{quote(self.display)} " if self.display else ""
        return f"{head}<{self.uri}>{format_params(self.params)}"

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def copy(self) -> NameAddr:
        return NameAddr(uri=self.uri.copy(), display=self.display, params=dict(self.params))


def split_addresses(value: str) -> list[str]:
    """Comma-split a Contact/Route value, respecting quotes and <...>."""
    return [p.strip() for p in split_outside_quotes(value, ",") if p.strip()]
