"""Address families at the socket edges: IPv4, IPv6 and the dual-stack ``::`` bind.

What is supported (docs/settings.md, README "Decisions"): ``bind_ip`` is an IPv4 address,
``0.0.0.0``, an IPv6 address (``::1``) or ``::``. ``::`` is dual-stack: UDP sockets take
both families (``IPV6_V6ONLY`` off) and TCP listens on ``::`` and ``0.0.0.0``. A dual-stack
UDP socket reports an IPv4 peer as ``::ffff:a.b.c.d``; :func:`unmap` turns that back into
``a.b.c.d`` as it arrives, so no mapped address reaches Via ``received``, symmetric RTP,
statistics or logs, and :func:`for_socket` maps an IPv4 destination again on the way out.
Host strings in the core are bare (``::1``); brackets are a SIP/URL matter (``wcs.sip.uri``).
"""

from __future__ import annotations

import ipaddress
import socket

ANY4 = "0.0.0.0"
ANY6 = "::"
_MAPPED = "::ffff:"


def is_ipv6(host: str) -> bool:
    """An IPv6 literal (bare or bracketed); host names and IPv4 are not."""
    return ":" in host


def family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if is_ipv6(host) else socket.AF_INET


def is_dual_stack(bind_ip: str) -> bool:
    return bind_ip == ANY6


def unbracket(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def unmap(host: str) -> str:
    """``::ffff:1.2.3.4`` -> ``1.2.3.4``; everything else unchanged (cheap for the hot path)."""
    if host[:7].lower() == _MAPPED and "." in host:
        return host[7:]
    return host


def for_socket(host: str, dual_stack: bool) -> str:
    """The destination as a dual-stack (AF_INET6) socket needs it: IPv4 mapped."""
    if dual_stack and not is_ipv6(host) and host[:1].isdigit():
        return _MAPPED + host
    return host


def hostport(host: str, port: int) -> str:
    """``host:port`` for logs and statistics, an IPv6 host in brackets (RFC 3986)."""
    return f"[{host}]:{port}" if is_ipv6(host) else f"{host}:{port}"


def sdp_addrtype(host: str) -> str:
    """SDP ``c=``/``o=`` address type (RFC 4566): ``IP6`` addresses are written unbracketed."""
    return "IP6" if is_ipv6(host) else "IP4"


def loopback_for(bind_ip: str) -> str:
    """The loopback address of the bind's family (where in-process peers listen)."""
    return "::1" if is_ipv6(bind_ip) else "127.0.0.1"


def listen_hosts(bind_ip: str) -> str | list[str]:
    """What to give asyncio's ``create_server``: ``::`` sets IPV6_V6ONLY there, so the
    dual-stack bind listens on both wildcards."""
    return [ANY6, ANY4] if is_dual_stack(bind_ip) else bind_ip


def resolve_family(bind_ip: str) -> socket.AddressFamily:
    """Which addresses a host name may resolve to, given what the sockets can reach."""
    if is_dual_stack(bind_ip):
        return socket.AF_UNSPEC
    return family(bind_ip)


def udp_socket(bind_ip: str) -> socket.socket:
    """An unbound UDP socket for ``bind_ip``; dual-stack (IPv4 too) for ``::``."""
    sock = socket.socket(family(bind_ip), socket.SOCK_DGRAM)
    if is_dual_stack(bind_ip):
        # explicit, so a host with net.ipv6.bindv6only=1 behaves the same
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    return sock


def check_ip(name: str, value: str) -> str:
    """A bare IP literal, or ValueError naming the setting; a mapped one is refused."""
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"setting {name!r}: {value!r} is not an IP address") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        raise ValueError(
            f"setting {name!r}: {value!r} is IPv4-mapped; give {addr.ipv4_mapped} instead"
        )
    return value
