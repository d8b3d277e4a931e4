from __future__ import annotations

import pytest

from wcs.webrtc.certificate import Certificate
from wcs.webrtc.dtls import (
    HANDSHAKE_TIMEOUT,
    DtlsConnected,
    DtlsError,
    DtlsEvent,
    DtlsFailed,
    DtlsSession,
)


@pytest.fixture(scope="module")
def certs() -> tuple[Certificate, Certificate]:
    return Certificate.generate(), Certificate.generate()


def pump(a: DtlsSession, b: DtlsSession, now: float = 0.0, rounds: int = 10) -> None:
    for _ in range(rounds):
        moved = False
        for src, dst in ((a, b), (b, a)):
            for datagram in src.data_to_send(0.0):
                moved = True
                dst.receive_datagram(datagram, now)
        if not moved:
            return


def events(s: DtlsSession) -> list[DtlsEvent]:
    out = []
    while (e := s.next_event()) is not None:
        out.append(e)
    return out


@pytest.mark.parametrize(
    "profiles",
    [("SRTP_AES128_CM_SHA1_80",), ("SRTP_AEAD_AES_128_GCM", "SRTP_AES128_CM_SHA1_80")],
)
def test_handshake_keys_match(
    certs: tuple[Certificate, Certificate], profiles: tuple[str, ...]
) -> None:
    ca, cb = certs
    client = DtlsSession(ca, True, [("sha-256", cb.fingerprint)], srtp_profiles=profiles)
    server = DtlsSession(cb, False, [("SHA-256", ca.fingerprint.lower())])
    client.start(0.0)
    server.start(0.0)
    pump(client, server)
    [ec] = events(client)
    [es] = events(server)
    assert isinstance(ec, DtlsConnected) and isinstance(es, DtlsConnected)
    assert ec.srtp_profile == es.srtp_profile == profiles[0]
    key_salt = 30 if profiles[0] == "SRTP_AES128_CM_SHA1_80" else 28
    assert len(ec.local_key) == key_salt
    assert ec.local_key == es.remote_key
    assert ec.remote_key == es.local_key
    assert ec.local_key != ec.remote_key
    assert client.state == server.state == "connected"
    assert client.get_timer() is None


def test_fingerprint_mismatch_fails(certs: tuple[Certificate, Certificate]) -> None:
    ca, cb = certs
    other = Certificate.generate()
    client = DtlsSession(ca, True, [("sha-256", other.fingerprint)])
    server = DtlsSession(cb, False, [("sha-256", ca.fingerprint)])
    client.start(0.0)
    pump(client, server)
    [ec] = events(client)
    assert isinstance(ec, DtlsFailed) and ec.fingerprint_mismatch
    assert client.state == "failed"


def test_no_common_srtp_profile_is_a_dtls_error(certs: tuple[Certificate, Certificate]) -> None:
    ca, cb = certs
    client = DtlsSession(
        ca, True, [("sha-256", cb.fingerprint)], srtp_profiles=("SRTP_AEAD_AES_128_GCM",)
    )
    server = DtlsSession(
        cb, False, [("sha-256", ca.fingerprint)], srtp_profiles=("SRTP_AES128_CM_SHA1_80",)
    )
    client.start(0.0)
    pump(client, server)
    [ec] = events(client)
    assert isinstance(ec, DtlsFailed) and not ec.fingerprint_mismatch


def test_lost_flight_is_retransmitted_on_the_injected_clock(
    certs: tuple[Certificate, Certificate],
) -> None:
    ca, cb = certs
    client = DtlsSession(ca, True, [("sha-256", cb.fingerprint)])
    server = DtlsSession(cb, False, [("sha-256", ca.fingerprint)])
    client.start(100.0)
    first = client.data_to_send(0.0)  # lost on the way
    assert first
    assert client.get_timer() == pytest.approx(101.0)
    client.handle_timer(100.5)  # not yet due
    assert client.data_to_send(0.0) == []
    client.handle_timer(101.0)
    assert client.data_to_send(0.0) == first
    assert client.get_timer() == pytest.approx(103.0)  # doubled
    client.handle_timer(103.0)
    again = client.data_to_send(0.0)
    assert again == first
    for d in again:
        server.receive_datagram(d, 103.0)
    pump(client, server, 103.0)
    assert isinstance(client.next_event(), DtlsConnected)


def test_handshake_gives_up(certs: tuple[Certificate, Certificate]) -> None:
    ca, cb = certs
    client = DtlsSession(ca, True, [("sha-256", cb.fingerprint)])
    client.start(0.0)
    now = 0.0
    while client.state == "handshaking":
        timer = client.get_timer()
        assert timer is not None and timer <= HANDSHAKE_TIMEOUT
        now = timer
        client.handle_timer(now)
    assert now == pytest.approx(HANDSHAKE_TIMEOUT)
    [e] = events(client)
    assert isinstance(e, DtlsFailed) and not e.fingerprint_mismatch


def test_garbage_is_ignored(certs: tuple[Certificate, Certificate]) -> None:
    ca, cb = certs
    client = DtlsSession(ca, True, [("sha-256", cb.fingerprint)])
    server = DtlsSession(cb, False, [("sha-256", ca.fingerprint)])
    client.start(0.0)
    server.receive_datagram(b"\x16\xfe\xfd" + b"\x00" * 40, 0.0)
    server.receive_datagram(b"\x17", 0.0)
    pump(client, server)
    assert isinstance(client.next_event(), DtlsConnected)


def test_bad_fingerprint_hash_rejected(certs: tuple[Certificate, Certificate]) -> None:
    with pytest.raises(DtlsError):
        DtlsSession(certs[0], True, [("md5", "00")])
    with pytest.raises(DtlsError):
        DtlsSession(certs[0], True, [])
