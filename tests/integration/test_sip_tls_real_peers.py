"""SIP over TLS (RFC 3261 §26) through a real Kamailio with its tls module, a test CA made
here (``tests/peers/tls_ca.py``), and SDES-SRTP media to a baresip callee.

Every call is captured on loopback: our SIP leaves only over TLS (nothing to Kamailio's
plaintext port, nothing on our own UDP/TCP SIP port), and the callee's tone is in no UDP
payload. Certificate failures fail the call with the reason and send nothing in clear.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import HookCollector, WcsFactory, WcsProcess
from tests.integration.playback import TONE_HZ
from tests.integration.test_calls_real_peers import call_body, new_id
from tests.integration.test_record_real_peers import decode, probe, wait_files
from tests.integration.test_srtp_real_peers import (
    assert_tone_plays,
    find_call,
    tone_flows,
    wait_published,
)
from tests.peers.baresip import BaresipPorts
from tests.peers.capture import Capture
from tests.peers.kamailio import Kamailio
from tests.peers.sipping import sip_options
from tests.peers.tls_ca import Issued, TestCa
from wcs.pcap.reader import read_pcap

pytestmark = pytest.mark.peers

NAMES = ["sip.test", "localhost", "127.0.0.1"]


def tls_body(kam: Kamailio, cid: str, callee: str, **extra: Any) -> dict[str, Any]:
    assert kam.tls_port is not None
    return call_body(kam, cid, callee, sipTransport="TLS", sipPort=str(kam.tls_port), **extra)


def kamailio_with(kamailio_factory: Any, cert: Issued) -> Kamailio:
    return kamailio_factory(tls=(cert.cert, cert.key))  # type: ignore[no-any-return]


def packets(pcap: Path) -> list[Any]:
    return list(read_pcap(pcap))


@pytest.mark.asyncio
async def test_tls_call_with_sdes_srtp_registers_decodes_and_leaks_nothing(
    kamailio_factory: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, tmp_path: Path
) -> None:
    ca = TestCa(tmp_path / "ca")
    kam = kamailio_with(kamailio_factory, ca.issue("kamailio", NAMES))
    ports = BaresipPorts.pick(kam.host)
    # baresip "srtp": SRTP when offered RTP/AVP + a=crypto (our default over TLS)
    peer = callee(kamailio=kam, tone_hz=TONE_HZ, mediaenc="srtp", ports=ports)
    # a second callee registered over TLS that takes SRTP only (RTP/SAVP: sipSrtp mandatory)
    tls_peer = callee("1003", kamailio=kam, mediaenc="srtp-mand", transport="tls", cafile=ca.pem)
    records = tmp_path / "records"
    server = wcs(
        rest_hooks=f"testApp={hooks.url}",
        sip_tls_ca_file=ca.pem,
        record_sip_streams="true",
        record_dir=str(records),
        record_template="{streamName}-{startTime}-{endTime}",
    )
    assert kam.tls_port is not None
    bpf = (
        f"port {server.sip_port} or port {kam.port} or port {kam.tls_port} "
        f"or udp portrange {ports.rtp_low}-{ports.rtp_high}"
    )
    capture = Capture(tmp_path / "call.pcap", bpf, tmp_path / "dumpcap.log")
    cid = new_id()
    try:
        body = tls_body(kam, cid, peer.user, sipRegisterRequired="true", toStream=f"s_{cid}")
        assert server.rest("call/startup", body)[0] == 200
        hooks.wait_status(cid, "ESTABLISHED")
        call = find_call(server, cid)
        assert (call["sipTransport"], call["srtpProfile"]) == ("TLS", "AES_CM_128_HMAC_SHA1_80")
        assert "transport=tls" in kam.log_text().lower() or kam.registered("1001")
        wait_published(server, f"s_{cid}")
        await assert_tone_plays(server, f"s_{cid}")
        peer.hangup()  # the callee's BYE reaches us over our TLS connection
        assert hooks.wait_status(cid, "FINISH")["info"] == "Normal call clearing"
        # downstream is unchanged: the secure call was recorded, and the file decodes
        [recorded] = wait_files(records, 1)
        streams = sorted((s["codec_type"], s["codec_name"]) for s in probe(recorded)["streams"])
        assert streams == [("audio", "aac"), ("video", "h264")]
        times, errors = decode(recorded)
        assert errors == [] and times["video"] and times["audio"]
        # TLS on both legs (Kamailio -> the callee too), SDES-SRTP mandatory
        cid2 = new_id()
        body = tls_body(kam, cid2, tls_peer.user, sipSrtp="mandatory")
        assert server.rest("call/startup", body)[0] == 200
        hooks.wait_status(cid2, "ESTABLISHED")
        assert find_call(server, cid2)["srtpProfile"] == "AES_CM_128_HMAC_SHA1_80"
        assert "transport=tls" in (kam.contact(tls_peer.user) or "")
        assert "SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)" in tls_peer.log
        assert server.rest("call/terminate", {"callId": cid2})[0] == 200
        hooks.wait_status(cid2, "FINISH")
        await asyncio.sleep(0.5)  # the un-REGISTER on the wire
    finally:
        pcap = capture.stop()
    seen = packets(pcap)
    to_tls = [p for p in seen if p.dst[1] == kam.tls_port and p.payload]
    assert to_tls, "nothing went to Kamailio's TLS port"
    assert not any(b"SIP/2.0" in p.payload for p in to_tls), "plaintext SIP on the TLS port"
    # Our side never used a plaintext SIP port: the only users of Kamailio's 5060-equivalent
    # are the callee's leg (its UDP SIP port), and our own SIP port saw nothing at all.
    assert not [p for p in seen if server.sip_port in (p.src[1], p.dst[1])]
    plain = [p for p in seen if kam.port in (p.src[1], p.dst[1])]
    assert all(ports.sip in (p.src[1], p.dst[1]) for p in plain)
    flows = tone_flows(pcap, ports.rtp_low, ports.rtp_high)
    assert flows and all(share < 0.05 for share in flows.values()), flows


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unknown_ca", "unable to get local issuer certificate"),
        ("wrong_host", "Hostname mismatch, certificate is not valid for 'localhost'"),
        ("expired", "certificate has expired"),
    ],
)
def test_certificate_failures_fail_the_call_with_the_reason_and_no_fallback(
    kamailio_factory: Any,
    wcs: WcsFactory,
    hooks: HookCollector,
    tmp_path: Path,
    case: str,
    reason: str,
) -> None:
    trusted = TestCa(tmp_path / "trusted", "trusted CA")
    if case == "unknown_ca":
        cert = TestCa(tmp_path / "other", "other CA").issue("kamailio", NAMES)
    elif case == "wrong_host":
        cert = trusted.issue("kamailio", ["elsewhere.test"])
    else:
        cert = trusted.issue("kamailio", NAMES, expired=True)
    kam = kamailio_with(kamailio_factory, cert)
    server = wcs(rest_hooks=f"testApp={hooks.url}", sip_tls_ca_file=trusted.pem)
    capture = Capture(
        tmp_path / "fail.pcap",
        f"port {kam.port} or port {server.sip_port}",
        tmp_path / "dumpcap.log",
    )
    cid = new_id()
    try:
        # by name: the certificate is checked against the name dialled (SNI), not the address
        body = tls_body(kam, cid, "1002", sipOutboundProxy="localhost")
        assert server.rest("call/startup", body)[0] == 200
        failed = hooks.wait_status(cid, "FAILED")
    finally:
        pcap = capture.stop()
    assert failed["info"].startswith("TLS certificate verify failed: "), failed
    assert reason in failed["info"], failed
    assert packets(pcap) == [], "something was sent on a plaintext SIP port"


def test_self_signed_needs_an_explicit_setting_insecure_or_pin(
    kamailio_factory: Any, wcs: WcsFactory, hooks: HookCollector, tmp_path: Path
) -> None:
    cert = TestCa(tmp_path / "unknown", "unknown CA").issue("kamailio", NAMES)
    kam = kamailio_with(kamailio_factory, cert)
    pin = hashlib.sha256(cert.der()).hexdigest()
    for settings in ({"sip_tls_insecure": "true"}, {"sip_tls_pin": pin}):
        server = wcs(rest_hooks=f"testApp={hooks.url}", **settings)
        cid = new_id()
        # 1002 is not registered at this Kamailio: its 480 proves the INVITE got through
        assert server.rest("call/startup", tls_body(kam, cid, "1002"))[0] == 200
        failed = hooks.wait_status(cid, "FAILED")
        assert failed["sipStatus"] == 480, (settings, failed)
    wrong_pin = wcs(rest_hooks=f"testApp={hooks.url}", sip_tls_pin="00" * 32)
    cid = new_id()
    assert wrong_pin.rest("call/startup", tls_body(kam, cid, "1002"))[0] == 200
    failed = hooks.wait_status(cid, "FAILED")
    assert "does not match the pinned one" in failed["info"], failed


def test_tls_listener_serves_and_survives_garbage(
    wcs: WcsFactory, hooks: HookCollector, tmp_path: Path
) -> None:
    from tests.fixtures.ports import free_port

    ca = TestCa(tmp_path / "ca")
    mine = ca.issue("wcs", NAMES)
    tls_port = free_port()
    server: WcsProcess = wcs(
        rest_hooks=f"testApp={hooks.url}",
        tls_cert=mine.cert,
        tls_key=mine.key,
        sip_tls_port=tls_port,
    )
    assert sip_options("127.0.0.1", tls_port, "tls", 5.0, str(ca.pem)) == "SIP/2.0 200 OK"
    for junk in (
        b"\x00" * 64,  # not TLS at all
        b"INVITE sip:x SIP/2.0\r\n\r\n",  # plaintext SIP on the TLS port
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x11" * 20,  # truncated hello
        b"\x17\x03\x03\x40\x00" + b"\xaa" * 100,  # application data without a handshake
    ):
        with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as s:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
    assert sip_options("127.0.0.1", tls_port, "tls", 5.0, str(ca.pem)) == "SIP/2.0 200 OK"
    assert server.rest("call/find_all", {})[0] == 404
    assert "Traceback" not in server.log()
