"""The signaling listeners of a running server: ws, wss with a configured certificate, and
``rest_auth`` on both (a browser passes the token as ``?token=``)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fixtures.ports import free_port
from tests.integration.conftest import WcsFactory
from tests.integration.playback import http
from tests.integration.wcs_ws_client import WcsClient, WsClosed

pytestmark = pytest.mark.asyncio


@pytest.fixture(params=[0, 2], ids=["in-process", "workers2"])
def webrtc_workers(request: pytest.FixtureRequest) -> int:
    """Every test here runs with viewers in-process and with two media worker processes."""
    return int(request.param)


def self_signed(where: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = where / "cert.pem", where / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def handshake(client: WcsClient) -> dict[str, object]:
    await client.connect()
    client.send("connection", {"appKey": "defaultApp", "mediaProviders": ["WebRTC"]})
    frame = await client.recv("getUserData", timeout=10)
    return dict(frame["data"][0])


async def test_wss_with_configured_certificate(wcs: WcsFactory, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    ws_port, wss_port = free_port(), free_port()
    wcs(ws_port=ws_port, wss_port=wss_port, tls_cert=cert, tls_key=key)
    ctx = ssl.create_default_context(cafile=str(cert))
    secure = WcsClient("127.0.0.1", wss_port, ssl=ctx)
    plain = WcsClient("127.0.0.1", ws_port)
    try:
        assert (await handshake(secure))["status"] == "ESTABLISHED"
        assert (await handshake(plain))["status"] == "ESTABLISHED"  # ws stays on
        # A ping arrives within the 5 s interval and a pong is accepted.
        await secure.recv("ping", timeout=10)
    finally:
        await secure.close()
        await plain.close()


async def test_no_wss_without_certificate(wcs: WcsFactory) -> None:
    wss_port = free_port()
    wcs(ws_port=free_port(), wss_port=wss_port)
    client = WcsClient("127.0.0.1", wss_port, ssl=ssl.create_default_context())
    with pytest.raises(OSError):
        await client.connect()


async def test_rest_auth_token_on_ws_and_whep(wcs: WcsFactory) -> None:
    ws_port = free_port()
    server = wcs(ws_port=ws_port, rest_auth="token:t0ken")
    anonymous = WcsClient("127.0.0.1", ws_port)
    with pytest.raises(WsClosed):
        await anonymous.connect()
    assert anonymous.rejected == 401
    await anonymous.close()
    client = WcsClient("127.0.0.1", ws_port, path="/?token=t0ken")
    try:
        user = await handshake(client)
        assert "t0ken" not in str(user)
        # Playing an unknown stream: FAILED "Stream not found" (we do not wait for it).
        client.send(
            "playStream",
            {"mediaSessionId": "m1", "name": "nosuch", "mediaProvider": "WebRTC", "sdp": "v=0"},
        )
        failed = await client.recv("notifyStreamStatusEvent")
        assert failed["data"][0]["status"] == "FAILED"
        assert failed["data"][0]["info"] == "Stream not found"
    finally:
        await client.close()
    sdp = {"Content-Type": "application/sdp"}
    assert http("POST", f"{server.base}/whep/x", b"v=0\r\n", sdp)[0] == 401
    auth = {**sdp, "Authorization": "Bearer t0ken"}
    assert http("POST", f"{server.base}/whep/x", b"v=0\r\n", auth)[0] == 404
    # The page itself needs no token.
    status, headers, _ = http("GET", server.base + "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"RTCPeerConnection" in http("GET", server.base + "/player.js")[2]
