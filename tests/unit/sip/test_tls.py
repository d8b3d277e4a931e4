"""SIP over TLS in the sans-IO core and the edge's TLS pieces: Via/Contact/URIs say TLS, the
TLS listener's port is named, ``sips:`` next hops go over TLS, failures carry the reason."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from pathlib import Path

import pytest

from tests.peers.tls_ca import TestCa
from wcs.sip.account import Account, default_port
from wcs.sip.events import CallFailed, Event, RegistrationFailed, RegistrationSucceeded
from wcs.sip.framer import StreamFramer
from wcs.sip.message import SipRequest, parse_message
from wcs.sip.tls import VERIFY_FAILED, SipTlsConfig, failure_reason
from wcs.sip.transport import SipTransport
from wcs.sip.ua import UserAgent

from .peer import ACCOUNT, OFFER, Harness, reply

TLS_ACCOUNT = dataclasses.replace(ACCOUNT, transport="tls", port=5061)


def test_invite_over_tls_names_tls_everywhere() -> None:
    h = Harness()
    h.ua.tls_port = 5071
    h.ua.invite("c1", TLS_ACCOUNT, "1002", OFFER, h.now)
    inv = h.one()
    assert inv.addr == ("10.0.0.2", 5061) and inv.transport == "tls"
    assert inv.req.uri == "sip:1002@10.0.0.2;transport=tls"
    assert inv.req.top_via.transport == "TLS" and inv.req.top_via.port == 5071
    assert inv.req.headers.get("Contact") == "<sip:1001@10.0.0.1:5071;transport=tls>"


def test_without_a_tls_listener_via_names_the_sip_port() -> None:
    h = Harness()
    h.ua.register(TLS_ACCOUNT, h.now)
    reg = h.one()
    assert reg.transport == "tls" and reg.req.uri == "sip:10.0.0.2;transport=tls"
    assert reg.req.top_via.transport == "TLS" and reg.req.top_via.port == 5070
    assert reg.req.headers.get("Contact") == "<sip:1001@10.0.0.1:5070;transport=tls>"


def test_sips_callee_keeps_its_scheme() -> None:
    h = Harness()
    h.ua.invite("c1", TLS_ACCOUNT, "sips:1002@10.0.0.2", OFFER, h.now)
    assert h.one().req.uri == "sips:1002@10.0.0.2"


def test_transport_failure_fails_the_call_and_the_registration_with_the_reason() -> None:
    h = Harness()
    h.ua.invite("c1", TLS_ACCOUNT, "1002", OFFER, h.now)
    h.ua.register(TLS_ACCOUNT, h.now)
    h.sent()
    reason = f"{VERIFY_FAILED}: certificate has expired"
    h.ua.transport_error(("10.0.0.2", 5061), "tls", reason, h.now)
    events = h.events()
    failed = [e for e in events if isinstance(e, CallFailed)]
    reg = [e for e in events if isinstance(e, RegistrationFailed)]
    assert failed and failed[0].info == reason
    assert reg and reg[0].info == reason
    assert h.sent() == []  # nothing else, and nothing by another transport


def test_default_port_is_5061_for_tls() -> None:
    assert (default_port("TLS"), default_port("tcp"), default_port("udp")) == (5061, 5060, 5060)
    assert Account("a", "b", transport="tls").transport == "tls"


def test_failure_reasons() -> None:
    err = ssl.SSLCertVerificationError(1, "x")
    err.verify_message = "unable to get local issuer certificate"
    assert failure_reason(err) == f"{VERIFY_FAILED}: unable to get local issuer certificate"
    assert failure_reason(ssl.SSLError(1, "WRONG_VERSION_NUMBER")).startswith("TLS handshake")
    assert failure_reason(ConnectionRefusedError()) == "Transport error"


def test_client_context_is_tls12_plus_and_verifies_by_default() -> None:
    ctx = SipTlsConfig().client_context()
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    insecure = SipTlsConfig(insecure=True).client_context()
    assert insecure.verify_mode == ssl.CERT_NONE


def test_pin_accepts_only_the_pinned_certificate() -> None:
    import hashlib

    der = b"certificate bytes"
    cfg = SipTlsConfig(pin=hashlib.sha256(der).hexdigest())
    assert cfg.check_peer(der, "pbx") is None
    problem = cfg.check_peer(b"another", "pbx")
    assert problem is not None and problem.startswith(VERIFY_FAILED)
    assert SipTlsConfig().check_peer(None, "pbx") is None  # the handshake verified it


@pytest.mark.parametrize("pin", ["zz", "00" * 31])
def test_bad_pin_setting_is_refused(pin: str) -> None:
    from wcs.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="sip_tls_pin"):
        load_settings(env={}, overrides={"sip_tls_pin": pin})


def test_register_over_tls_reuses_one_connection_and_keeps_it_alive(tmp_path: Path) -> None:
    """A loopback TLS registrar (test CA): the REGISTER arrives over TLS with a TLS Via, the
    connection is verified by name, reused for the refresh, and gets CRLF keep-alives."""
    ca = TestCa(tmp_path)
    server_cert = ca.issue("registrar", ["localhost"])

    async def main() -> None:
        received: asyncio.Queue[bytes] = asyncio.Queue()
        connections = 0

        async def registrar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            framer = StreamFramer()
            while data := await reader.read(65535):
                if data.strip(b"\r\n") == b"":
                    await received.put(data)
                for msg in framer.feed(data):
                    await received.put(msg)
                    req = parse_message(msg)
                    assert isinstance(req, SipRequest)
                    writer.write(reply(req, 200, "OK", headers=[("Expires", "600")]).serialize())

        sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        sctx.load_cert_chain(server_cert.cert, server_cert.key)
        srv = await asyncio.start_server(registrar, "127.0.0.1", 0, ssl=sctx)
        port = srv.sockets[0].getsockname()[1]
        events: list[Event] = []
        ua = UserAgent(local_port=0, public_ip="127.0.0.1")
        tls = SipTlsConfig(ca_file=str(ca.pem), keepalive=0.05)
        edge = SipTransport(ua, "127.0.0.1", 0, events.append, tls=tls)
        await edge.start()
        try:
            acc = Account("1001", "localhost", "pw", port=port, transport="tls")
            ua.register(acc, edge.now())
            edge.wake()
            first = parse_message(await asyncio.wait_for(received.get(), 10))
            assert isinstance(first, SipRequest) and first.method == "REGISTER"
            assert first.top_via.transport == "TLS"
            while (data := await asyncio.wait_for(received.get(), 10)).strip(b"\r\n"):
                pass  # until a keep-alive
            assert data == b"\r\n\r\n"
            assert connections == 1 and edge.connections == 1
            assert any(isinstance(e, RegistrationSucceeded) for e in events)
        finally:
            await edge.close()
            srv.close()

    asyncio.run(main())
