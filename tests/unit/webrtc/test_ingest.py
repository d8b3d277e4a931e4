"""WebRTC ingest: codec choice and answer, NACK and REMB feedback, the publisher peer's
receive path (real SRTP contexts, no sockets), and the WCS protocol's publish messages."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from wcs.media.audio import AudioFrame
from wcs.media.h264 import AccessUnit
from wcs.rtp import rtcp
from wcs.rtp.packet import pack_header
from wcs.rtp.srtp import SrtpContext
from wcs.sdp import SessionDescription
from wcs.webrtc import events
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.ingest import PublisherPeer
from wcs.webrtc.ingest_answer import negotiate_ingest
from wcs.webrtc.ingest_feedback import BitrateEstimate, NackList
from wcs.webrtc.offer import OfferError, parse_offer
from wcs.webrtc.signaling import PublishRequested, UnpublishRequested, WcsSession
from wcs.webrtc.transport import PeerSettings

from .chrome_offer import CHROME_OFFER

# Chrome offers goog-remb and transport-cc on every video codec; we answer REMB only.
PUBLISH_OFFER = CHROME_OFFER.replace("a=recvonly", "a=sendonly").replace(
    "a=rtcp-fb:106 ccm fir\r\n",
    "a=rtcp-fb:106 goog-remb\r\na=rtcp-fb:106 transport-cc\r\na=rtcp-fb:106 ccm fir\r\n",
)


def test_h264_constrained_baseline_mode_1_is_preferred_and_opus_taken() -> None:
    choices = negotiate_ingest(parse_offer(PUBLISH_OFFER))
    audio, video = choices
    assert audio.codec is not None and audio.codec.name == "opus"
    assert video.codec is not None and video.codec.payload_type == 106  # 42e01f, mode 1
    assert audio.ssrc and video.ssrc


VP8_OFFER = re.sub(r"a=(rtpmap|fmtp|rtcp-fb):(10[2-9]|12[57]) [^\r]*\r\n", "", PUBLISH_OFFER)


def test_vp8_accepted_without_h264_and_recvonly_offer_refused() -> None:
    video = negotiate_ingest(parse_offer(VP8_OFFER))[1]
    assert video.codec is not None and video.codec.name == "VP8"
    assert not any(c.accepted for c in negotiate_ingest(parse_offer(CHROME_OFFER)))
    with pytest.raises(OfferError, match=events.NO_COMMON_CODECS):
        PublisherPeer(CHROME_OFFER, _Sink(), PeerSettings(Certificate.generate()))


def test_answer_is_recvonly_with_feedback_and_no_source() -> None:
    peer = PublisherPeer(PUBLISH_OFFER, _Sink(), PeerSettings(Certificate.generate()))
    answer = SessionDescription.parse(peer._build_answer([]))
    audio, video = answer.media
    assert (audio.direction, video.direction) == ("recvonly", "recvonly")
    assert [c.payload_type for c in video.codecs] == [106]
    assert set(video.codecs[0].rtcp_fb) == {"nack", "nack pli", "ccm fir", "goog-remb"}
    assert not video.ssrcs and video.msid is None
    assert set(peer.sessions) == {"audio", "video"}


def test_nack_list_asks_for_a_gap_then_retries_then_forgets() -> None:
    n = NackList(retry=0.05, tries=2, max_age=1.0)
    assert not n.receive(65534, 0.0)
    assert not n.receive(65535, 0.0)
    assert n.receive(2, 0.01)  # 0 and 1 missing, across the wrap
    assert n.due(0.01) == [0, 1]
    assert n.due(0.02) == []  # not yet due again
    assert not n.receive(0, 0.03)  # a retransmission
    assert n.recovered == 1
    assert n.get_timer() == pytest.approx(0.06)
    assert n.due(0.07) == [1]
    assert n.due(0.2) == []  # two tries: given up
    assert n.missing == {}
    assert not n.receive(2 + 1000, 0.3)  # a huge hole is a restart, not a repair
    assert n.missing == {}


def test_bitrate_estimate_follows_loss() -> None:
    e = BitrateEstimate(start=1_000_000, low=100_000, high=1_200_000)
    e.receive(0)
    assert e.update(0.0) == 1_000_000  # the first: the start value
    for seq in range(1, 101):
        e.receive(seq)
    assert e.update(1.0) == 1_080_000  # no loss: +8 %
    for seq in range(101, 200, 2):  # half lost
        e.receive(seq)
    assert e.update(2.0) == int(1_080_000 * (1 - 0.5 * (1 - 50 / 99)))  # 49 of 99 lost
    for seq in range(200, 300, 30):  # mostly lost, many times: the floor holds
        e.receive(seq)
    for _ in range(20):
        e.update(3.0)
    assert e.bitrate >= 100_000
    assert e.next_at == 4.0


class _Sink:
    def __init__(self) -> None:
        self.rtp: list[tuple[str, bytes]] = []
        self.video: list[AccessUnit] = []
        self.audio: list[AudioFrame] = []

    def on_rtp(self, kind: str, packet: bytes, timestamp: int) -> None:
        self.rtp.append((kind, packet))

    def on_video(self, au: AccessUnit, arrival: float) -> None:
        self.video.append(au)

    def on_audio(self, frame: AudioFrame, arrival: float) -> None:
        self.audio.append(frame)

    def on_rebase(self, kind: str, timestamp: int, arrival: float) -> None:
        pass

    def on_sender_clock(self, kind: str, clock: Any) -> None:
        pass


class _Wire:
    """Stands for the ICE pair: what the peer sends, unprotected with the browser's keys."""

    def __init__(self, browser: SrtpContext) -> None:
        self.browser = browser
        self.sent: list[rtcp.RtcpPacket] = []

    def send(self, data: bytes) -> None:
        self.sent.extend(rtcp.parse_compound(self.browser.unprotect_rtcp(data)))


def _keyed_peer(
    jitter_latency: float | None = None,
    now: list[float] | None = None,
    *,
    reorder_latency: float | None = None,
    offer: str = PUBLISH_OFFER,
) -> tuple[PublisherPeer, SrtpContext, _Wire, _Sink]:
    sink = _Sink()
    clock = now if now is not None else [100.0]
    peer = PublisherPeer(
        offer,
        sink,
        PeerSettings(Certificate.generate()),
        jitter_latency=jitter_latency,
        reorder_latency=reorder_latency,
        clock=lambda: clock[0],
    )
    ours, theirs = bytes(range(30)), bytes(range(100, 130))
    server = SrtpContext("SRTP_AES128_CM_SHA1_80", ours, theirs)
    browser = SrtpContext("SRTP_AES128_CM_SHA1_80", theirs, ours)
    wire = _Wire(browser)
    peer.ice.send = wire.send
    peer._on_keys(server)
    peer._keyed = True
    peer.state = events.CONNECTED
    return peer, browser, wire, sink


def _video(seq: int, payload: bytes, marker: bool = True, ts: int = 9000) -> bytes:
    return pack_header(106, seq, ts, 0xABCDEF01, marker) + payload


def test_peer_unprotects_depacketizes_nacks_and_rembs() -> None:
    peer, browser, wire, sink = _keyed_peer()
    sps = bytes.fromhex("6742c01e8c8d40a0fd00f0884530")
    pps = bytes.fromhex("68ce3c80")
    idr = b"\x65" + b"\x88" * 50
    stap = b"\x18" + len(sps).to_bytes(2, "big") + sps + len(pps).to_bytes(2, "big") + pps
    peer._on_datagram(browser.protect(_video(10, stap, marker=False)))
    peer._on_datagram(browser.protect(_video(11, idr)))
    assert [k for k, _ in sink.rtp] == ["video", "video"]
    assert len(sink.video) == 1 and sink.video[0].keyframe
    # The first video packet brought a REMB naming the SSRC.
    rembs = [p for p in wire.sent if isinstance(p, rtcp.Remb)]
    assert rembs and rembs[0].ssrcs == [0xABCDEF01] and rembs[0].bitrate == 1_500_000
    # 12 and 13 lost: NACKed at once.
    peer._on_datagram(browser.protect(_video(14, b"\x41" + b"\x00" * 20, ts=12000)))
    nacks = [p for p in wire.sent if isinstance(p, rtcp.Nack)]
    assert nacks and nacks[-1].lost() == [12, 13] and nacks[-1].media_ssrc == 0xABCDEF01
    # A consumer needs a keyframe: PLI to the publisher's SSRC.
    peer.request_keyframe()
    plis = [p for p in wire.sent if isinstance(p, rtcp.Pli)]
    assert plis and plis[0].media_ssrc == 0xABCDEF01
    # Opus: a frame per packet.
    opus = pack_header(111, 1, 960, 0x1234, False) + b"\xfc\xff\xfe"
    peer._on_datagram(browser.protect(opus))
    assert [f.codec for f in sink.audio] == ["opus"]
    # A forged packet is counted, not delivered.
    peer._on_datagram(_video(15, b"\x41"))
    assert peer.srtp_errors == 1
    stats = peer.stats()
    assert stats["video"]["nackRequested"] == 2 and stats["audio"]["packets"] == 1
    assert stats["video"]["remote"] is None  # no ICE pair in this test (not "ice:0")


def test_with_the_jitter_buffer_a_late_packet_is_put_back_in_place() -> None:
    now = [100.0]
    peer, browser, _, sink = _keyed_peer(jitter_latency=0.05, now=now)
    for seq in (1, 3, 2):  # 2 comes late (a NACKed retransmission, say)
        opus = pack_header(111, seq, 960 * seq, 0x1234, False) + b"\xfc\xff\xfe"
        peer._on_datagram(browser.protect(opus))
        now[0] += 0.01
    now[0] = 100.2
    peer.handle_timer(now[0])
    assert [int.from_bytes(p[2:4], "big") for _, p in sink.rtp] == [1, 2, 3]
    # Without it, packets go on as they come.
    peer, browser, _, sink = _keyed_peer()
    for seq in (1, 3, 2):
        opus = pack_header(111, seq, 960 * seq, 0x1234, False) + b"\xfc\xff\xfe"
        peer._on_datagram(browser.protect(opus))
    assert [int.from_bytes(p[2:4], "big") for _, p in sink.rtp] == [1, 3, 2]


def test_a_retransmitted_vp8_packet_reaches_the_depacketizer_in_place() -> None:
    """No jitter buffer: viewers get packets as they come, but the frame path reorders
    (``reorder_latency``), so a NACKed packet that comes back late completes its frame
    instead of being dropped as late (with the frame) by the depacketizer."""
    key = bytes([0x00, 0x00, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00])  # P bit 0

    def vp8(seq: int) -> bytes:  # a key frame in packets 1..3, an inter frame in 4..6
        body = key if seq == 1 else b"\x01" if seq == 4 else b""
        desc = b"\x10" if seq % 3 == 1 else b"\x00"  # S=1, partition 0 on a frame's first
        head = pack_header(96, seq, 3000 * ((seq - 1) // 3), 0x5678, seq % 3 == 0)
        return head + desc + body + bytes([seq]) * 20

    def run(reorder: float | None) -> tuple[_Sink, list[int]]:
        now = [100.0]
        peer, browser, _, sink = _keyed_peer(now=now, reorder_latency=reorder, offer=VP8_OFFER)
        for seq in (1, 2, 3, 4, 6, 5):  # 5 NACKed and retransmitted
            peer._on_datagram(browser.protect(vp8(seq)))
            now[0] += 0.02
        return sink, [int.from_bytes(p[2:4], "big") for _, p in sink.rtp]

    sink, forwarded = run(0.06)
    assert forwarded == [1, 2, 3, 4, 6, 5]  # viewers: as received
    assert [au.keyframe for au in sink.video] == [True, False]
    assert sink.video[1].nals == [b"\x01" + bytes([4]) * 20 + bytes([5]) * 20 + bytes([6]) * 20]
    sink, _ = run(None)  # without it the late packet is dropped, and its frame
    assert [au.keyframe for au in sink.video] == [True]


def test_a_packet_held_for_reordering_wakes_the_pump() -> None:
    """Audio (no NACK to wake it): the held packet's release deadline must reach the timer."""
    for reorder, woken in ((0.06, True), (None, False)):
        peer, browser, _, _ = _keyed_peer(reorder_latency=reorder)
        wakes: list[int] = []
        peer._wake = lambda wakes=wakes: wakes.append(1)  # type: ignore[method-assign,misc]
        for seq in (1, 3):  # 2 missing: 3 waits for it
            opus = pack_header(111, seq, 960 * seq, 0x1234, False) + b"\xfc\xff\xfe"
            peer._on_datagram(browser.protect(opus))
        assert bool(wakes) is woken
        assert (peer._media_timer(1e9) == pytest.approx(100.06)) is woken  # 3's deadline


def frame(message: str, payload: Any = None) -> str:
    return json.dumps({"message": message, "data": [payload]})


def test_signaling_publish_and_unpublish() -> None:
    s = WcsSession("/a/b", 0.0)
    s.receive_text(frame("connection", {"appKey": "app"}), 0.0)
    s.data_to_send(0.0)
    s.next_event()
    s.receive_text(
        frame("publishStream", {"mediaSessionId": "m1", "name": "cam", "sdp": "v=0"}), 0.0
    )
    event = s.next_event()
    assert isinstance(event, PublishRequested) and (event.name, event.sdp) == ("cam", "v=0")
    s.stream_status("m1", s.plays["m1"].status.PUBLISHING)
    (status,) = [json.loads(t) for t in s.data_to_send(0.0)]
    body = status["data"][0]
    assert (body["status"], body["published"], body["name"]) == ("PUBLISHING", True, "cam")
    s.receive_text(frame("unPublishStream", {"mediaSessionId": "m1", "name": "cam"}), 0.0)
    assert s.next_event() == UnpublishRequested("m1", "cam")
    s.stream_status("m1", s.plays["m1"].status.UNPUBLISHED, "Unpublished by user")
    assert "m1" not in s.plays
    # No SDP: FAILED at once, nothing for the application.
    s.data_to_send(0.0)
    s.receive_text(frame("publishStream", {"mediaSessionId": "m2", "name": "cam"}), 0.0)
    assert s.next_event() is None
    (failed,) = [json.loads(t)["data"][0] for t in s.data_to_send(0.0)]
    assert (failed["status"], failed["mediaSessionId"], failed["published"]) == (
        "FAILED",
        "m2",
        True,
    )
