"""ViewerPeer against aiortc, an independent WebRTC implementation, on loopback.

aiortc plays the browser: it offers recvonly audio+video, its candidates are stripped from
the offer (the WebSDK sends none and never trickles), and it must decode what we send:
RTP from a real SIP call trace (PCMU + H.264 packetization-mode 0, 352x288).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs import CODECS
from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpCodecParameters

from wcs.observability import metrics
from wcs.pcap import read_pcap
from wcs.webrtc import events
from wcs.webrtc.answer import SourceTrack
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.peer import ViewerPeer
from wcs.webrtc.transport import PeerSettings

pytestmark = pytest.mark.asyncio

TRACE = Path(__file__).resolve().parents[2] / "conformance" / "traces" / "02-call-av.pcap"
# In the trace the callee (baresip, RTP ports 20000-20099) sends audio from 20028 and
# video from 20012: those are the streams a viewer of the call would get.
CALLEE_AUDIO_PORT = 20028
CALLEE_VIDEO_PORT = 20012

TRACKS = [
    SourceTrack("audio", "PCMU", 8000),
    SourceTrack("video", "H264", 90000, {"profile-level-id": "42e01f", "packetization-mode": "0"}),
]


@pytest.fixture
def aiortc_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # aioice skips 127.0.0.1 when gathering; keep the test's traffic on loopback.
    monkeypatch.setattr("aioice.ice.get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    # Like Chrome, offer H.264 packetization-mode=0 too (aiortc only offers mode 1).
    extra = RTCRtpCodecParameters(
        mimeType="video/H264",
        clockRate=90000,
        payloadType=125,
        rtcpFeedback=[RTCRtcpFeedback(type="nack"), RTCRtcpFeedback(type="nack", parameter="pli")],
        parameters={
            "level-asymmetry-allowed": "1",
            "packetization-mode": "0",
            "profile-level-id": "42e01f",
        },
    )
    monkeypatch.setitem(CODECS, "video", [*CODECS["video"], extra])


def strip_candidates(sdp: str) -> str:
    return "".join(
        line
        for line in sdp.splitlines(keepends=True)
        if not re.match(r"a=(candidate|end-of-candidates)", line)
    )


def trace_packets() -> list[tuple[float, str, bytes]]:
    out = []
    for pkt in read_pcap(TRACE):
        if pkt.proto != "udp" or len(pkt.payload) < 12 or pkt.payload[0] >> 6 != 2:
            continue
        if 192 <= pkt.payload[1] <= 223:
            continue  # RTCP
        if pkt.src[1] == CALLEE_AUDIO_PORT:
            out.append((pkt.time, "audio", pkt.payload))
        elif pkt.src[1] == CALLEE_VIDEO_PORT:
            out.append((pkt.time, "video", pkt.payload))
    return out


async def consume(track: Any, counts: dict[str, int], sizes: set[tuple[int, int]]) -> None:
    while True:
        try:
            frame = await track.recv()
        except Exception:
            return
        counts[track.kind] += 1
        if track.kind == "video":
            sizes.add((frame.width, frame.height))


async def make_offer(pc: RTCPeerConnection) -> str:
    pc.addTransceiver("audio", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return strip_candidates(pc.localDescription.sdp)


@pytest.mark.usefixtures("aiortc_on_loopback")
@pytest.mark.parametrize("answer_setup", ["active", "passive"])
async def test_aiortc_decodes_trace_media(answer_setup: str) -> None:
    pc = RTCPeerConnection()
    counts = {"audio": 0, "video": 0}
    sizes: set[tuple[int, int]] = set()
    consumers: list[asyncio.Task[None]] = []

    @pc.on("track")
    def on_track(track: Any) -> None:
        consumers.append(asyncio.create_task(consume(track, counts, sizes)))

    states: list[events.PeerStateChanged] = []
    keyframe_requests = []
    offer = await make_offer(pc)
    assert "a=candidate" not in offer
    peer = ViewerPeer(
        offer,
        TRACKS,
        PeerSettings(Certificate.generate(), bind_ip="127.0.0.1", ice_timeout=20.0),
        on_state=states.append,
        on_keyframe_request=lambda: keyframe_requests.append(1),
        answer_setup=answer_setup,
    )
    try:
        assert not peer.needs_audio_transcode
        answer = await peer.start()
        assert "a=end-of-candidates" in answer
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        assert await asyncio.wait_for(peer.wait_connected(), 30), peer.info
        packets = trace_packets()
        assert packets
        start = packets[0][0]
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for ts, kind, payload in packets:
            # Twice real time: fast, yet paced enough for aiortc's jitter buffers.
            delay = (ts - start) / 2 - (loop.time() - t0)
            if delay > 0:
                await asyncio.sleep(delay)
            peer.send_rtp(kind, payload)
        for _ in range(100):
            if counts["video"] >= 20 and counts["audio"] >= 50:
                break
            await asyncio.sleep(0.05)
        assert counts["video"] >= 20, counts
        assert counts["audio"] >= 50, counts
        assert sizes == {(352, 288)}
        assert peer.senders["video"].packets > 100
        assert peer.srtp_profile in ("SRTP_AES128_CM_SHA1_80", "SRTP_AEAD_AES_128_GCM")
        assert peer.stats()["send_errors"] == 0
        assert keyframe_requests  # at least the one on connect
        assert [s.state for s in states][:2] == [events.CONNECTING, events.CONNECTED]
        # Our RFC 7675 consent check (sent by the peer's timer every 4-6 s; here at once)
        # gets aiortc's signed answer, which renews consent.
        assert peer._consent_due is not None  # the checks are scheduled
        before = peer.ice.consent_at
        peer.ice.check_consent()
        for _ in range(100):
            if peer.ice.consent_at > before:
                break
            await asyncio.sleep(0.02)
        assert peer.ice.consent_at > before
    finally:
        await pc.close()
        await peer.close()
        for task in consumers:
            task.cancel()
    assert peer.state == events.CLOSED


@pytest.mark.usefixtures("aiortc_on_loopback")
async def test_fingerprint_mismatch_fails_with_dtls_info() -> None:
    pc = RTCPeerConnection()
    offer = await make_offer(pc)
    # Another certificate's fingerprint: aiortc's real certificate will not match it.
    wrong = Certificate.generate().fingerprint
    offer = re.sub(r"a=fingerprint:sha-256 \S+", f"a=fingerprint:sha-256 {wrong}", offer)
    offer = re.sub(r"a=fingerprint:sha-(384|512) \S+\r?\n", "", offer)
    states: list[events.PeerStateChanged] = []
    failures_before = metrics.DTLS_FAILURES.labels().value
    peer = ViewerPeer(
        offer,
        TRACKS,
        PeerSettings(Certificate.generate(), bind_ip="127.0.0.1", ice_timeout=20.0),
        on_state=states.append,
    )
    try:
        answer = await peer.start()
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        assert not await asyncio.wait_for(peer.wait_connected(), 30)
        assert peer.state == events.FAILED
        assert peer.info == events.DTLS_FINGERPRINT_ERROR
        assert states[-1] == events.PeerStateChanged(events.FAILED, events.DTLS_FINGERPRINT_ERROR)
        assert metrics.DTLS_FAILURES.labels().value == failures_before + 1  # seen in /metrics
    finally:
        await pc.close()
        await peer.close()
