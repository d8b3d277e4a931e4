"""DTLS 1.2 for DTLS-SRTP (RFC 5764) as a sans-IO core on pyOpenSSL memory BIOs.

``DtlsSession`` is fed datagrams and the current time; it returns datagrams to send, a
retransmission deadline and events. The handshake retransmission is ours (RFC 6347 4.2.4:
resend the last flight, doubling from 1 s), not OpenSSL's: OpenSSL's own timer reads the
wall clock, which would make the core untestable with an injected clock.
"""

from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from OpenSSL import SSL

from .certificate import Certificate

# Our preference order; the browser picks among those it offers.
SRTP_PROFILES = ("SRTP_AEAD_AES_128_GCM", "SRTP_AES128_CM_SHA1_80")
# (key length, salt length) per profile, RFC 5764 4.1.2 and RFC 7714 12.
SRTP_KEY_SALT = {"SRTP_AES128_CM_SHA1_80": (16, 14), "SRTP_AEAD_AES_128_GCM": (16, 12)}

_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha-1": hashes.SHA1(),
    "sha-224": hashes.SHA224(),
    "sha-256": hashes.SHA256(),
    "sha-384": hashes.SHA384(),
    "sha-512": hashes.SHA512(),
}

_DTLS1_2_VERSION = 0xFEFD  # pyOpenSSL has no constant for it
INITIAL_RTO = 1.0
MAX_RTO = 8.0
HANDSHAKE_TIMEOUT = 30.0  # give up the handshake after this long


class DtlsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class DtlsConnected:
    """Handshake done and the peer's certificate matched its SDP fingerprint."""

    srtp_profile: str  # e.g. "SRTP_AES128_CM_SHA1_80"
    local_key: bytes  # our write master key + salt (protects what we send)
    remote_key: bytes  # the peer's write master key + salt (unprotects what we receive)


@dataclass(frozen=True, slots=True)
class DtlsFailed:
    fingerprint_mismatch: bool  # True: the peer's certificate is not the one in its SDP
    detail: str


@dataclass(frozen=True, slots=True)
class DtlsClosed:
    """The peer sent close_notify."""


DtlsEvent = DtlsConnected | DtlsFailed | DtlsClosed


def certificate_fingerprint(cert: x509.Certificate, algorithm: str) -> str:
    algo = _HASHES.get(algorithm.lower())
    if algo is None:
        raise DtlsError(f"unsupported fingerprint hash {algorithm!r}")
    return ":".join(f"{b:02X}" for b in cert.fingerprint(algo))


def _verify_any(_conn: SSL.Connection, _cert: object, _errno: int, _depth: int, _ok: int) -> bool:
    # Self-signed certificates are the norm; the peer is authenticated by its SDP
    # fingerprint after the handshake instead of by a CA chain.
    return True


class DtlsSession:
    """One DTLS association. ``is_client`` is our role (``a=setup:active`` → client)."""

    def __init__(
        self,
        certificate: Certificate,
        is_client: bool,
        remote_fingerprints: list[tuple[str, str]],
        srtp_profiles: tuple[str, ...] = SRTP_PROFILES,
        mtu: int = 1200,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
    ) -> None:
        if not remote_fingerprints:
            raise DtlsError("the remote description has no fingerprint")
        for algorithm, _ in remote_fingerprints:
            if algorithm.lower() not in _HASHES:
                raise DtlsError(f"unsupported fingerprint hash {algorithm!r}")
        self.is_client = is_client
        self.handshake_timeout = handshake_timeout
        self._remote_fingerprints = [(a.lower(), v.upper()) for a, v in remote_fingerprints]
        ctx = SSL.Context(SSL.DTLS_METHOD)
        ctx.set_min_proto_version(_DTLS1_2_VERSION)
        ctx.use_certificate(certificate.cert)
        ctx.use_privatekey(certificate.key)
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, _verify_any)
        ctx.set_tlsext_use_srtp(":".join(srtp_profiles).encode())
        # OP_NO_QUERY_MTU: a memory BIO has no path MTU, we give one.
        ctx.set_options(SSL.OP_NO_QUERY_MTU)
        self._ssl = SSL.Connection(ctx, None)
        self._ssl.set_ciphertext_mtu(mtu)
        if is_client:
            self._ssl.set_connect_state()
        else:
            self._ssl.set_accept_state()
        self._out: list[bytes] = []
        self._events: deque[DtlsEvent] = deque()
        self._last_flight: list[bytes] = []
        self._rto = INITIAL_RTO
        self._timer: float | None = None
        self._started: float | None = None
        self.state = "new"  # new → handshaking → connected | failed | closed

    # --- inputs -------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Begin the handshake (a client sends ClientHello; a server waits for one)."""
        if self.state != "new":
            return
        self.state = "handshaking"
        self._started = now
        self._timer = now + self.handshake_timeout
        if self.is_client:
            self._drive(now)

    def receive_datagram(self, data: bytes, now: float) -> None:
        if self.state == "new":
            self.start(now)
        if self.state not in ("handshaking", "connected"):
            return
        try:
            self._ssl.bio_write(data)
        except SSL.Error:
            return
        if self.state == "handshaking":
            self._drive(now)
        else:
            self._read_application(now)

    def handle_timer(self, now: float) -> None:
        if self.state != "handshaking" or self._timer is None or now < self._timer:
            return
        assert self._started is not None
        if now - self._started >= self.handshake_timeout:
            self._fail(False, "handshake timeout")
            return
        if self._last_flight:
            self._out.extend(self._last_flight)
            self._rto = min(self._rto * 2, MAX_RTO)
        self._arm(now)

    def close(self) -> None:
        """Send close_notify (best effort) and stop."""
        if self.state == "connected":
            with contextlib.suppress(SSL.Error):
                self._ssl.shutdown()
            self._flush_bio()
        self.state = "closed"
        self._timer = None

    # --- outputs ------------------------------------------------------------------------

    def data_to_send(self, now: float) -> list[bytes]:
        """The datagrams to send, in order, to the one remote (the selected ICE pair)."""
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        return self._timer

    def next_event(self) -> DtlsEvent | None:
        return self._events.popleft() if self._events else None

    # --- internals ----------------------------------------------------------------------

    def _arm(self, now: float) -> None:
        assert self._started is not None
        self._timer = min(now + self._rto, self._started + self.handshake_timeout)

    def _flush_bio(self) -> list[bytes]:
        sent: list[bytes] = []
        while True:
            try:
                chunk = self._ssl.bio_read(65536)
            except SSL.WantReadError:
                break
            if not chunk:
                break
            sent.append(chunk)
        self._out.extend(sent)
        return sent

    def _drive(self, now: float) -> None:
        try:
            self._ssl.do_handshake()
        except SSL.WantReadError:
            flight = self._flush_bio()
            if flight:  # a new flight: it replaces the one we would retransmit
                self._last_flight = flight
                self._rto = INITIAL_RTO
                self._arm(now)
            return
        except SSL.Error as exc:
            self._flush_bio()  # let the alert out
            self._fail(False, f"handshake failed: {exc}")
            return
        self._flush_bio()
        self._last_flight = []
        self._timer = None
        self._handshake_done()

    def _handshake_done(self) -> None:
        peer = self._ssl.get_peer_certificate(as_cryptography=True)
        if peer is None:
            self._fail(False, "no peer certificate")
            return
        if not any(
            certificate_fingerprint(peer, algo) == value
            for algo, value in self._remote_fingerprints
        ):
            self._fail(True, "peer certificate does not match the SDP fingerprint")
            return
        selected = self._ssl.get_selected_srtp_profile()
        profile = selected.decode() if selected else ""
        if profile not in SRTP_KEY_SALT:
            self._fail(False, f"no SRTP profile negotiated ({profile or 'none'})")
            return
        key_len, salt_len = SRTP_KEY_SALT[profile]
        material = self._ssl.export_keying_material(
            b"EXTRACTOR-dtls_srtp", 2 * (key_len + salt_len)
        )
        # RFC 5764 4.2: client key, server key, client salt, server salt.
        client_key = material[:key_len]
        server_key = material[key_len : 2 * key_len]
        client_salt = material[2 * key_len : 2 * key_len + salt_len]
        server_salt = material[2 * key_len + salt_len :]
        client, server = client_key + client_salt, server_key + server_salt
        local, remote = (client, server) if self.is_client else (server, client)
        self.state = "connected"
        self._events.append(DtlsConnected(profile, local, remote))

    def _read_application(self, now: float) -> None:
        # No data channels: application data is drained and dropped; this also lets
        # OpenSSL answer a retransmitted final flight and notice close_notify.
        while True:
            try:
                self._ssl.recv(65536)
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                self.state = "closed"
                self._events.append(DtlsClosed())
                break
            except SSL.Error:
                break
        self._flush_bio()

    def _fail(self, fingerprint: bool, detail: str) -> None:
        self.state = "failed"
        self._timer = None
        self._events.append(DtlsFailed(fingerprint, detail))
