"""SDES-SRTP (RFC 4568) toward a real SIP peer: baresip with ``mediaenc=srtp-mand``.

Each call is captured on loopback (dumpcap). The callee sends a 1 kHz tone in PCMA: in a
plain call the capture's payloads decode to that tone (the detector's positive control);
in an SRTP call no flow of the capture does. The stream still decodes in an aiortc viewer,
so the server really unprotects. SIP here runs over UDP (``sip_srtp_over_plaintext``): the
point is the media; TLS signalling is tested on its own.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.fixtures.ports import free_port_range
from tests.integration.conftest import HookCollector, WcsFactory, WcsProcess
from tests.integration.playback import TONE_HZ, Viewer, stream_entries, whep_play
from tests.integration.test_calls_real_peers import call_body, new_id
from tests.peers.baresip import BaresipPorts
from tests.peers.capture import Capture
from wcs.media.g711 import alaw_decode
from wcs.pcap.reader import read_pcap
from wcs.rtp.packet import RtpPacket
from wcs.sdp.sdes import SUITES

pytestmark = pytest.mark.peers

PLAIN_SDES = {"sip_srtp_over_plaintext": "true"}


def start(wcs: WcsFactory, hooks: HookCollector, **settings: Any) -> WcsProcess:
    return wcs(rest_hooks=f"testApp={hooks.url}", **PLAIN_SDES, **settings)


def tone_flows(pcap: Path, rtp_low: int, rtp_high: int) -> dict[tuple[int, int], float]:
    """For each UDP flow from the callee's RTP ports: the share of the A-law-decoded
    payload energy within 50 Hz of the tone (near 1 for the clear tone, tiny for noise)."""
    payloads: dict[tuple[int, int], list[bytes]] = defaultdict(list)
    for p in read_pcap(pcap):
        # 12 header bytes, 20 ms of G.711, then an SRTP tag of up to 16 bytes
        if p.proto == "udp" and rtp_low <= p.src[1] <= rtp_high and 172 <= len(p.payload) <= 188:
            payloads[(p.src[1], p.dst[1])].append(p.payload[12:172])
    out = {}
    for flow, chunks in payloads.items():
        if len(chunks) < 25:
            continue
        pcm = np.frombuffer(alaw_decode(b"".join(chunks[-50:])), dtype="<i2").astype(float)
        spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm)))) ** 2
        freqs = np.fft.rfftfreq(len(pcm), 1 / 8000)
        near = spectrum[np.abs(freqs - TONE_HZ) <= 50].sum()
        out[flow] = float(near / spectrum[1:].sum())
    return out


def rtp_capture(tmp_path: Path, ports: BaresipPorts) -> Capture:
    """Every UDP datagram from/to the callee's RTP port range."""
    bpf = f"udp portrange {ports.rtp_low}-{ports.rtp_high}"
    return Capture(tmp_path / "call.pcap", bpf, tmp_path / "dumpcap.log")


def established(
    server: WcsProcess, hooks: HookCollector, kamailio: Any, peer: Any, srtp: str
) -> str:
    cid = new_id()
    body = call_body(kamailio, cid, peer.user, sipSrtp=srtp)
    assert server.rest("call/startup", body)[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    return cid


def find_call(server: WcsProcess, cid: str) -> dict[str, Any]:
    status, found = server.rest("call/find", {"callId": cid})
    assert status == 200, found
    return dict(found[0])


def wait_published(server: WcsProcess, name: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for s in stream_entries(server):
            if s["name"] == name and s["published"] and s.get("hasAudio") and s.get("hasVideo"):
                return
        time.sleep(0.1)
    raise AssertionError(f"stream {name} not published: {stream_entries(server)}")


async def assert_tone_plays(server: WcsProcess, name: str) -> None:
    """An aiortc viewer of stream ``name`` (WHEP) decodes video and the callee's tone."""
    viewer = Viewer()
    try:
        await whep_play(server.base, name, viewer)
        await viewer.wait()
        hz = viewer.dominant_hz()
        assert abs(hz - TONE_HZ) <= 0.02 * TONE_HZ, hz
    finally:
        await viewer.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("suite", list(SUITES))
async def test_sdes_call_is_encrypted_and_decodes(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, tmp_path: Path, suite: str
) -> None:
    ports = BaresipPorts.pick(kamailio.host)
    peer = callee(tone_hz=TONE_HZ, mediaenc="srtp-mand", ports=ports)
    server = start(wcs, hooks, sip_srtp_suites=suite)
    capture = rtp_capture(tmp_path, ports)
    try:
        cid = established(server, hooks, kamailio, peer, "mandatory")
        call = find_call(server, cid)
        assert (call["sipTransport"], call["srtpProfile"]) == ("UDP", suite)
        name = f"stream_{cid}"
        wait_published(server, name)
        await assert_tone_plays(server, name)
        # baresip agrees on the suite, for audio and video.
        for kind in ("audio", "video"):
            assert f"srtp: {kind}: SRTP is Enabled (cryptosuite={suite})" in peer.log, kind
    finally:
        pcap = capture.stop()
    flows = tone_flows(pcap, ports.rtp_low, ports.rtp_high)
    assert flows, "no audio-sized packets from the callee in the capture"
    assert all(share < 0.05 for share in flows.values()), flows
    # No key reached the server's log (DEBUG), the hooks or the REST answers.
    assert "inline:" not in server.log()
    assert "inline:" not in hooks.raw()
    assert server.rest("call/terminate", {"callId": cid})[0] == 200


def srtp_failures(server: WcsProcess) -> float:
    with urllib.request.urlopen(f"{server.base}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    m = re.search(r"^wcs_srtp_failures_total (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


@pytest.mark.asyncio
async def test_forged_packets_are_counted_and_rekeying_reinvites_keep_the_call(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    """Packets failing SRTP authentication are dropped and counted; baresip's hold/resume
    re-INVITEs (new SDES offers) are answered with keys, and the media still decodes."""
    peer = callee(tone_hz=TONE_HZ, mediaenc="srtp-mand")
    media_from = free_port_range(40)
    server = start(wcs, hooks, media_port_from=media_from, media_port_to=media_from + 39)
    cid = established(server, hooks, kamailio, peer, "mandatory")
    before = srtp_failures(server)
    forged = RtpPacket(payload_type=8, sequence=1, timestamp=0, ssrc=0x1234,
                       payload=bytes(160)).serialize() + bytes(10)  # fmt: skip
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for port in range(media_from, media_from + 40, 2):  # every RTP port of the range
            for _ in range(10):
                s.sendto(forged, ("127.0.0.1", port))
    deadline = time.monotonic() + 5
    while srtp_failures(server) - before < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    # audio and video RTP ports each dropped the ten forgeries
    assert srtp_failures(server) - before >= 20, (before, srtp_failures(server))
    peer.ctrl("hold")
    hooks.wait_status(cid, "HOLD")
    peer.ctrl("resume")
    deadline = time.monotonic() + 10
    while hooks.statuses(cid)[-1] != "ESTABLISHED" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hooks.statuses(cid)[-2:] == ["HOLD", "ESTABLISHED"]
    call = find_call(server, cid)
    assert call["status"] == "ESTABLISHED" and call["srtpProfile"] == "AES_CM_128_HMAC_SHA1_80"
    await assert_tone_plays(server, f"stream_{cid}")
    assert "Traceback" not in server.log()
    assert server.rest("call/terminate", {"callId": cid})[0] == 200


def test_optional_against_plain_callee_is_plain_rtp(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, tmp_path: Path
) -> None:
    ports = BaresipPorts.pick(kamailio.host)
    peer = callee(tone_hz=TONE_HZ, ports=ports)
    server = start(wcs, hooks)
    capture = rtp_capture(tmp_path, ports)
    try:
        cid = established(server, hooks, kamailio, peer, "optional")
        wait_published(server, f"stream_{cid}")
        time.sleep(1.5)  # a second and a half of the tone on the wire
        call = find_call(server, cid)
        assert call["srtpProfile"] is None
    finally:
        pcap = capture.stop()
    flows = tone_flows(pcap, ports.rtp_low, ports.rtp_high)
    # The detector's positive control: the clear tone is found.
    assert flows and max(flows.values()) > 0.5, flows
    assert server.rest("call/terminate", {"callId": cid})[0] == 200


def test_mandatory_against_plain_callee_fails_488(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    peer = callee()
    server = start(wcs, hooks)
    cid = new_id()
    body = call_body(kamailio, cid, peer.user, sipSrtp="mandatory")
    assert server.rest("call/startup", body)[0] == 200
    failed = hooks.wait_status(cid, "FAILED")
    assert "488" in f"{failed['sipStatus']} {failed['info']}", failed
    assert "ESTABLISHED" not in hooks.statuses(cid)


def test_sdes_over_plaintext_sip_needs_the_setting(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    peer = callee()
    server = wcs(rest_hooks=f"testApp={hooks.url}")
    cid = new_id()
    body = call_body(kamailio, cid, peer.user, sipSrtp="mandatory")
    assert server.rest("call/startup", body)[0] == 200
    failed = hooks.wait_status(cid, "FAILED")
    assert "sip_srtp_over_plaintext" in failed["info"], failed


@pytest.mark.asyncio
async def test_dtls_srtp_call_is_encrypted_and_decodes(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, tmp_path: Path
) -> None:
    """baresip ``mediaenc=dtls_srtp``: UDP/TLS/RTP/SAVP, a handshake on the RTP and the RTCP
    port of each m-line, its certificate checked against its SDP fingerprint."""
    ports = BaresipPorts.pick(kamailio.host)
    peer = callee(tone_hz=TONE_HZ, mediaenc="dtls_srtp", ports=ports)
    server = start(wcs, hooks)
    capture = rtp_capture(tmp_path, ports)
    try:
        cid = established(server, hooks, kamailio, peer, "dtls")
        wait_published(server, f"stream_{cid}")
        await assert_tone_plays(server, f"stream_{cid}")
        # our first choice of DTLS-SRTP profile, which baresip supports too
        assert find_call(server, cid)["srtpProfile"] == "SRTP_AEAD_AES_128_GCM"
        for component in ("audio/RTP", "audio/RTCP", "video/RTP", "video/RTCP"):
            line = f"DTLS-SRTP complete ({component}) Profile=AEAD_AES_128_GCM"
            assert line in peer.log, peer.log[-3000:]
        assert "verified sha-256 fingerprint OK" in peer.log
    finally:
        pcap = capture.stop()
    flows = tone_flows(pcap, ports.rtp_low, ports.rtp_high)
    assert flows and all(share < 0.05 for share in flows.values()), flows
    assert server.rest("call/terminate", {"callId": cid})[0] == 200
