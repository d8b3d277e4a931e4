"""The asyncio edge against the scripted server: TLS, back-pressure, failures."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.unit.rtmp.fake_server import FakeRtmpServer
from wcs.rtmp import events as ev
from wcs.rtmp import messages as m
from wcs.rtmp.client import RtmpPublisher, RtmpPublishError


def self_signed(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "c.pem", tmp / "k.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client


@pytest.mark.asyncio
async def test_rtmps_publishes_over_tls(tmp_path: Path) -> None:
    server_ctx, client_ctx = self_signed(tmp_path)
    async with FakeRtmpServer(ssl_context=server_ctx) as server:
        pub = RtmpPublisher(
            f"rtmps://127.0.0.1:{server.port}/live/secret-key", ssl_context=client_ctx
        )
        await pub.connect()
        assert pub.publishing
        assert pub.send_video(0, b"\x00\x00\x00\x01\x65", keyframe=True)
        await pub.close()
    names = [c[0] for c in server.commands()]
    assert names[:5] == ["connect", "releaseStream", "FCPublish", "createStream", "publish"]
    assert server.commands()[0][2]["tcUrl"] == f"rtmps://127.0.0.1:{server.port}/live"
    assert any(x.type_id == m.VIDEO for x in server.received)


@pytest.mark.asyncio
async def test_tls_with_an_untrusted_certificate_fails_cleanly(tmp_path: Path) -> None:
    server_ctx, _ = self_signed(tmp_path)
    async with FakeRtmpServer(ssl_context=server_ctx) as server:
        pub = RtmpPublisher(f"rtmps://127.0.0.1:{server.port}/live/x")  # system CAs only
        with pytest.raises(RtmpPublishError) as info:
            await pub.connect()
    assert info.value.failure.stage in ("transport", "handshake")
    assert "CERTIFICATE" in info.value.failure.description.upper()


@pytest.mark.asyncio
async def test_back_pressure_drops_video_instead_of_growing_memory() -> None:
    async with FakeRtmpServer(stop_reading_when_publishing=True) as server:
        limit = 200_000
        pub = RtmpPublisher(f"rtmp://127.0.0.1:{server.port}/live/x", buffer_limit=limit)
        await pub.connect()
        frame = bytes(60_000)
        peak = 0
        for i in range(2000):  # 120 MB offered, more than any socket buffer holds
            pub.send_video(i * 66, frame, keyframe=i % 50 == 0)
            peak = max(peak, pub.buffered())
        assert pub.dropped.video_frames > 0
        # Memory stays bounded: the limit plus at most one frame that was let through.
        assert peak <= limit + len(frame) + 1000
        assert pub.gate.waiting_for_keyframe
        assert not pub.send_video(0, frame, keyframe=False)  # still waiting for a keyframe
        await pub.close(timeout=0.5)


@pytest.mark.asyncio
async def test_server_refusing_publish_raises_with_its_code() -> None:
    async with FakeRtmpServer(publish_code="NetStream.Publish.Denied") as server:
        pub = RtmpPublisher(f"rtmp://127.0.0.1:{server.port}/live/x")
        with pytest.raises(RtmpPublishError) as info:
            await pub.connect()
    assert info.value.failure == ev.Failed("publish", "NetStream.Publish.Denied", "scripted")
    assert "NetStream.Publish.Denied" in str(info.value)


@pytest.mark.asyncio
async def test_server_closing_while_publishing_calls_the_failure_callback() -> None:
    failures: list[ev.Failed] = []
    got = asyncio.Event()

    def on_failure(f: ev.Failed) -> None:
        failures.append(f)
        got.set()

    async with FakeRtmpServer(close_when_publishing=True) as server:
        pub = RtmpPublisher(f"rtmp://127.0.0.1:{server.port}/live/x", on_failure=on_failure)
        await pub.connect()  # TCP keeps order: the onStatus arrives before the close
        await asyncio.wait_for(got.wait(), 10)
    assert failures == [ev.Failed("publishing", "", "connection closed by the server")]
    assert not pub.publishing
    assert not pub.send_video(0, b"x", keyframe=True)


@pytest.mark.asyncio
async def test_nothing_listening_is_a_transport_failure() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        pub = RtmpPublisher(f"rtmp://127.0.0.1:{port}/live/x")
        with pytest.raises(RtmpPublishError) as info:
            await pub.connect()
    assert info.value.failure.stage == "transport"


@pytest.mark.asyncio
async def test_silent_server_times_out_at_the_handshake() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 + 1536)
        await asyncio.sleep(3600)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        pub = RtmpPublisher(f"rtmp://127.0.0.1:{port}/live/x", connect_timeout=0.3)
        with pytest.raises(RtmpPublishError) as info:
            await pub.connect()
    finally:
        server.close()
    assert info.value.failure.stage == "handshake"
    assert "no answer" in info.value.failure.description
