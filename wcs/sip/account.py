"""A SIP account: who we are (address of record) and where its requests go first."""

from __future__ import annotations

from dataclasses import dataclass, field

from .transaction import Dest
from .uri import SipUri


@dataclass(frozen=True)
class Account:
    login: str
    domain: str
    password: str = field(default="", repr=False)
    auth_name: str = ""  # digest username; "" -> login
    outbound_proxy: str = ""  # "host" or "host:port"; "" -> domain
    port: int = 5060  # port of outbound proxy/domain when not given
    transport: str = "udp"  # "udp" | "tcp" | "tls"
    display_name: str = ""


STREAM_TRANSPORTS = ("tcp", "tls")  # connection-oriented: a transport= parameter in URIs


def default_port(transport: str) -> int:
    """5061 for SIP over TLS (RFC 3261 §26.2), 5060 otherwise."""
    return 5061 if transport.lower() == "tls" else 5060


def split_server(text: str, default_port: int) -> tuple[str, int]:
    """ "host", "host:port", "[v6]:port" or a sip:/sips: URI → (host without brackets, port)."""
    text = text.strip()
    if text.startswith(("sip:", "sips:")):
        uri = SipUri.parse(text)
        host, port = uri.host, uri.port or default_port
    elif text.startswith("["):
        end = text.index("]")
        host = text[: end + 1]
        port = int(text[end + 2 :]) if text[end + 1 : end + 2] == ":" else default_port
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        port = int(p)
    else:
        host, port = text, default_port
    return (host[1:-1] if host.startswith("[") else host), port


def account_dest(account: Account) -> Dest:
    """Where the account's out-of-dialog requests go: its outbound proxy, else its domain."""
    host, port = split_server(account.outbound_proxy or account.domain, account.port)
    return host, port, account.transport


def aor(account: Account) -> SipUri:
    """The address of record, sip:login@domain."""
    return SipUri(host=account.domain, user=account.login)
