"""Minimal SIP OPTIONS probe (readiness check for SIP servers on loopback)."""

from __future__ import annotations

import secrets
import socket
import ssl


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _options(host: str, port: int, lport: int, transport: str) -> bytes:
    uri = f"sip:{_hostport(host, port)}"
    lines = [
        f"OPTIONS {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport.upper()} {_hostport(host, lport)}"
        f";branch=z9hG4bK{secrets.token_hex(6)};rport",
        "Max-Forwards: 70",
        f"From: <sip:probe@{_hostport(host, port).rsplit(':', 1)[0]}>;tag={secrets.token_hex(4)}",
        f"To: <{uri}>",
        f"Call-ID: {secrets.token_hex(8)}@probe",
        "CSeq: 1 OPTIONS",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


def sip_options(
    host: str,
    port: int,
    transport: str = "udp",
    timeout: float = 1.0,
    cafile: str | None = None,
) -> str | None:
    """Send one OPTIONS; the response's status line, or None when nothing answered.
    ``tls``: the server certificate must chain to ``cafile`` and name ``host``."""
    try:
        if transport == "udp":
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout)
                try:
                    s.bind((host, 0))
                except OSError:  # a peer in a network namespace: not one of our addresses
                    s.bind(("::" if ":" in host else "0.0.0.0", 0))
                s.sendto(_options(host, port, s.getsockname()[1], "udp"), (host, port))
                data, _ = s.recvfrom(65535)
        elif transport in ("tcp", "tls"):
            with socket.create_connection((host, port), timeout=timeout) as raw:
                s = raw
                if transport == "tls":
                    ctx = ssl.create_default_context(cafile=cafile)
                    s = ctx.wrap_socket(raw, server_hostname=host)
                s.settimeout(timeout)
                s.sendall(_options(host, port, s.getsockname()[1], transport))
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(65535)
                    if not chunk:
                        break
                    data += chunk
        else:
            raise ValueError(f"transport must be udp, tcp or tls, not {transport!r}")
    except OSError:
        return None
    first = data.split(b"\r\n", 1)[0].decode(errors="replace")
    return first if first.startswith("SIP/2.0 ") else None
