"""Incoming calls over TLS with SRTP (issue 16): the server registers as 1003 over TLS at a
Kamailio with its tls module (a test CA made here); baresip 1001 calls 1003 over TLS with
SDES-SRTP (``mediaenc=srtp-mand``) or DTLS-SRTP (``dtls_srtp``).

This Kamailio sends requests to the registered Contact (``contact_as_given``), so the
INVITE arrives on a connection Kamailio opens to our own TLS listener (``sip_tls_port``
with ``tls_cert``/``tls_key``), not on the one our REGISTER used. A capture of everything
shows no plaintext SIP and the caller's tone in no UDP payload; the stream decodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ports import free_port
from tests.integration.conftest import WcsFactory
from tests.integration.inbound_helpers import (
    Backend,
    incoming_call,
    published,
    register,
    wait_until,
)
from tests.integration.playback import TONE_HZ
from tests.integration.test_sip_tls_real_peers import NAMES, packets
from tests.integration.test_srtp_real_peers import assert_tone_plays, find_call, tone_flows
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback  # noqa: F401
from tests.peers.baresip import BaresipPorts
from tests.peers.capture import Capture
from tests.peers.tls_ca import TestCa

pytestmark = pytest.mark.peers


@pytest.mark.asyncio
@pytest.mark.usefixtures("aiortc_on_loopback")
@pytest.mark.parametrize(
    ("mediaenc", "profile"),
    # with dtls_srtp baresip is the DTLS server (we answer a=setup:active): it picks
    [("srtp-mand", "AES_CM_128_HMAC_SHA1_80"), ("dtls_srtp", "SRTP_AES128_CM_SHA1_80")],
)
async def test_incoming_tls_call_with_srtp_reaches_our_tls_listener(
    kamailio_factory: Any,
    caller: Any,
    wcs: WcsFactory,
    backend: Backend,
    tmp_path: Path,
    mediaenc: str,
    profile: str,
) -> None:
    ca = TestCa(tmp_path / "ca")
    kam_cert = ca.issue("kamailio", NAMES)
    kam = kamailio_factory(tls=(kam_cert.cert, kam_cert.key), contact_as_given=True)
    assert kam.tls_port is not None
    mine = ca.issue("wcs", NAMES)
    tls_port = free_port()
    server = wcs(
        rest_hooks=f"testApp={backend.url}",
        tls_cert=mine.cert,
        tls_key=mine.key,
        sip_tls_port=tls_port,
        sip_tls_ca_file=ca.pem,
    )
    ports = BaresipPorts.pick(kam.host)
    bpf = (
        f"port {server.sip_port} or port {tls_port} or port {kam.port} or port {kam.tls_port} "
        f"or udp portrange {ports.rtp_low}-{ports.rtp_high}"
    )
    capture = Capture(tmp_path / "in.pcap", bpf, tmp_path / "dumpcap.log")
    try:
        register(server, kam, sipTransport="TLS", sipPort=kam.tls_port, toStream="sec-{caller}")
        assert "transport=tls" in (kam.contact("1003") or "")
        assert f":{tls_port}" in (kam.contact("1003") or "")  # our listener, not the REGISTER's
        peer = caller(user="1001", kamailio=kam, transport="tls", cafile=ca.pem,
                      mediaenc=mediaenc, tone_hz=TONE_HZ, ports=ports)  # fmt: skip
        result = peer.call_in_background("1003", hold_s=60, timeout_s=20)
        cid = incoming_call(server)["callId"]
        backend.wait_status(cid, "ESTABLISHED")
        published(server, "sec-1001")
        # keyed at once (SDES), or once the DTLS handshake is through
        call = wait_until("SRTP keys", lambda: find_call(server, cid)["srtpProfile"] and
                          find_call(server, cid))  # fmt: skip
        assert call["incoming"] is True
        assert (call["sipTransport"], call["srtpProfile"]) == ("TLS", profile)
        await assert_tone_plays(server, "sec-1001")
        assert server.rest("call/terminate", {"callId": cid}) == (200, None)
        res = result.result(30)
        assert res.established and res.closed is not None  # our BYE reached it over TLS
        backend.wait_status(cid, "FINISH")
    finally:
        pcap = capture.stop()
    seen = packets(pcap)
    # Kamailio opened a connection to our listener and sent the INVITE there
    assert any(p.dst[1] == tls_port and len(p.payload) > 100 for p in seen)
    assert not any(b"SIP/2.0" in p.payload for p in seen), "plaintext SIP in the capture"
    assert not [p for p in seen if server.sip_port in (p.src[1], p.dst[1])]
    assert not [p for p in seen if kam.port in (p.src[1], p.dst[1])]
    flows = tone_flows(pcap, ports.rtp_low, ports.rtp_high)
    assert flows and all(share < 0.05 for share in flows.values()), flows
    if mediaenc == "dtls_srtp":
        assert "verified sha-256 fingerprint OK" in peer.log
    else:
        assert "SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)" in peer.log
    assert "inline:" not in server.log() and "Traceback" not in server.log()
