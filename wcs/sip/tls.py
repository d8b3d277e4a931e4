"""SIP over TLS (RFC 3261 §26): the TLS contexts of the SIP edge and why a handshake failed.

Client side: TLS 1.2 or newer, the server certificate checked against the system CA store or
``ca_file`` with the host name we dialled (SNI set). Skipping the check takes an explicit
setting: ``insecure`` (any certificate, a warning per connection) or ``pin`` (the SHA-256
of the one certificate we accept). Never a silent fallback, never to TCP or UDP.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from dataclasses import dataclass

log = logging.getLogger(__name__)

VERIFY_FAILED = "TLS certificate verify failed"


@dataclass(frozen=True, slots=True)
class SipTlsConfig:
    ca_file: str = ""  # "": the system CA store
    insecure: bool = False  # accept any server certificate (self-signed test peers)
    pin: str = ""  # SHA-256 of the server certificate (hex, ':' allowed): only that one
    client_cert: str = ""  # optional client certificate (PEM, with client_key)
    client_key: str = ""
    listen_port: int = 0  # our TLS listener (0: none)
    server_cert: str = ""  # the listener's certificate chain and key (tls_cert/tls_key)
    server_key: str = ""
    keepalive: float = 30.0  # CRLF keep-alive on the TLS connections we open (RFC 5626 §3.5.1)

    @property
    def pin_digest(self) -> bytes | None:
        return bytes.fromhex(self.pin.replace(":", "")) if self.pin else None

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.insecure or self.pin:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_file:
            ctx.load_verify_locations(cafile=self.ca_file)
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        if self.client_cert:
            ctx.load_cert_chain(self.client_cert, self.client_key or None)
        return ctx

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.server_cert, self.server_key)
        return ctx

    def check_peer(self, der: bytes | None, host: str) -> str | None:
        """After the handshake: None when the certificate is acceptable, else the reason."""
        digest = self.pin_digest
        if digest is not None:
            if der is None or hashlib.sha256(der).digest() != digest:
                return f"{VERIFY_FAILED}: certificate of {host} does not match the pinned one"
            return None
        if self.insecure:
            log.warning("SIP TLS to %s: server certificate NOT verified (sip_tls_insecure)", host)
        return None


def failure_reason(exc: BaseException) -> str:
    """The call's FAILED info for a connection that failed before any SIP was sent."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{VERIFY_FAILED}: {exc.verify_message or getattr(exc, 'reason', None) or exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {getattr(exc, 'reason', None) or exc}"
    if isinstance(exc, ConnectionResetError | EOFError):
        return f"TLS handshake failed: {exc or 'connection closed'}"
    return "Transport error"
