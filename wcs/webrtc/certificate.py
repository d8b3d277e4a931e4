"""The server's DTLS identity: an ECDSA P-256 self-signed certificate made at start."""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True, slots=True)
class Certificate:
    """A certificate, its key and the SDP fingerprint (``sha-256`` + colon hex)."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.cert)

    @classmethod
    def generate(cls, common_name: str = "wcs", days: int = 30) -> Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(secrets.randbits(63) + 1)
            # Back-dated a day so a peer with a skewed clock still accepts it.
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)


def fingerprint_of(cert: x509.Certificate) -> str:
    """Upper-case colon-separated SHA-256 digest, as in ``a=fingerprint:sha-256 ...``."""
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))
