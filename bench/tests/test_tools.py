"""Tests of the benchmark tools themselves (no timing thresholds: counts and contents only).

Run: python3 -m pytest -q bench/tests
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from pathlib import Path

import pytest

from bench.callee_farm import CalleeFarm
from bench.lightrtc import LightViewer, SendLog
from bench.pyspy_summary import summarise
from bench.run import BEGIN, END, write_results
from bench.stamp import read_stamp, stamp
from bench.trace_feed import Destination, Feeder, load_trace
from wcs.sip.message import Headers, SipRequest, SipResponse, parse_message, serialize
from wcs.webrtc.answer import SourceTrack
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.dtls import SRTP_PROFILES
from wcs.webrtc.peer import ViewerPeer
from wcs.webrtc.transport import PeerSettings

TRACKS = [
    SourceTrack("audio", "PCMU", 8000),
    SourceTrack("video", "H264", 90000, {"profile-level-id": "42e01f", "packetization-mode": "1"}),
]


def test_stamp_round_trip_and_absent() -> None:
    hdr = struct.pack("!BBHII", 0x80, 96, 7, 1234, 0xABCDEF)
    pkt = stamp(hdr, b"payload", 123456789012345)
    assert pkt[0] & 0x10
    assert read_stamp(pkt) == 123456789012345
    assert pkt.endswith(b"payload")
    assert read_stamp(hdr + b"payload") is None


def test_stamp_found_after_other_elements() -> None:
    # a server may put its own one-byte elements first (e.g. mid, ID 4, 1 byte)
    hdr = struct.pack("!BBHII", 0x90, 96, 7, 1234, 1)
    ext = bytes([0x40, ord("v"), (14 << 4) | 7]) + (42).to_bytes(8, "big") + b"\x00"
    pkt = hdr + struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext + b"x"
    assert read_stamp(pkt) == 42


def test_trace_has_both_tracks_and_loops_continuously() -> None:
    trace = load_trace()
    kinds = {p.kind for p in trace.packets}
    assert kinds == {"audio", "video"}
    assert trace.duration > 1.0
    assert all(a.offset <= b.offset for a, b in zip(trace.packets, trace.packets[1:], strict=False))
    assert trace.seq_span["audio"] == sum(1 for p in trace.packets if p.kind == "audio")


@pytest.mark.asyncio
async def test_feeder_sends_stamped_packets_with_continuing_sequence() -> None:
    trace = load_trace()
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind(("127.0.0.1", 0))
    feeder = Feeder(trace)
    log = SendLog()
    dest = Destination(tx, rx.getsockname(), None, log=log)
    feeder.add(dest, phase=0.0)
    task = asyncio.create_task(feeder.run())
    got: list[bytes] = []
    loop = asyncio.get_running_loop()
    while len(got) < 5:
        got.append(await asyncio.wait_for(loop.sock_recv(rx, 2048), 5))
    task.cancel()
    tx.close()
    rx.close()
    seqs = [struct.unpack_from("!H", p, 2)[0] for p in got]
    assert [(s - seqs[0]) & 0xFFFF for s in seqs] == [0, 1, 2, 3, 4]
    assert all(read_stamp(p) for p in got)
    assert all(p[1] & 0x7F == 0 for p in got)  # audio only was asked for
    assert log.sent["audio"][seqs[0]] == read_stamp(got[0])


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("offered", "negotiated"),
    [
        (SRTP_PROFILES, "SRTP_AEAD_AES_128_GCM"),
        (("SRTP_AES128_CM_SHA1_80",), "SRTP_AES128_CM_SHA1_80"),
    ],
)
async def test_light_viewer_against_viewer_peer(offered: tuple[str, ...], negotiated: str) -> None:
    """Real ICE, DTLS and SRTP between the farm's viewer and the product's ViewerPeer, in
    the suite the viewer offers; then passive, its sweep still counts every packet."""
    viewer = LightViewer(Certificate.generate(), verify_every=1, srtp_profiles=offered)
    peer = ViewerPeer(
        viewer.offer(), TRACKS, PeerSettings(Certificate.generate(), bind_ip="127.0.0.1")
    )
    try:
        viewer.set_remote(await peer.start())
        viewer.start()
        assert await asyncio.wait_for(peer.wait_connected(), 15)
        await asyncio.wait_for(viewer.connected.wait(), 15)
        assert viewer.failed == ""
        for i in range(20):
            hdr = struct.pack("!BBHII", 0x80, 0, 100 + i, 160 * i, 99)
            peer.send_rtp("audio", stamp(hdr, b"\xff" * 160, time.time_ns()))
        for _ in range(100):
            if viewer.summary()["packets"] >= 20:
                break
            await asyncio.sleep(0.02)
        s = viewer.summary()
        assert s["packets"] == 20
        assert s["lost"] == 0
        assert s["verified"] == 20 and s["verify_failed"] == 0
        assert len(viewer.latencies()) == 20
        assert all(x > 0 for x in viewer.latencies())
        assert viewer.srtp_profile == negotiated
        viewer.go_passive()
        for i in range(20, 30):
            hdr = struct.pack("!BBHII", 0x80, 0, 100 + i, 160 * i, 99)
            peer.send_rtp("audio", stamp(hdr, b"\xff" * 160, time.time_ns()))
        for _ in range(100):
            viewer.sweep()
            if viewer.swept >= 10:
                break
            await asyncio.sleep(0.02)
        assert viewer.swept == 10
    finally:
        viewer.close()
        await peer.close()


@pytest.mark.asyncio
async def test_callee_farm_answers_invite_and_bye() -> None:
    trace = load_trace()
    farm = CalleeFarm(Feeder(trace))
    port = await farm.start()
    ua = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ua.bind(("127.0.0.1", 0))
    ua.setblocking(False)
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind(("127.0.0.1", 0))
    mport = media.getsockname()[1]
    loop = asyncio.get_running_loop()
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {mport} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        f"m=video {mport + 2} RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"
        "a=fmtp:97 packetization-mode=1\r\n"
    )

    def request(method: str, cseq: int, body: str = "", to_tag: str = "") -> bytes:
        h = Headers()
        h.add("Via", f"SIP/2.0/UDP 127.0.0.1:{ua.getsockname()[1]};branch=z9hG4bK{method}{cseq}")
        h.add("From", "<sip:wcs@127.0.0.1>;tag=a")
        h.add("To", "<sip:b@127.0.0.1>" + (f";tag={to_tag}" if to_tag else ""))
        h.add("Call-ID", "call-1")
        h.add("CSeq", f"{cseq} {method}")
        if body:
            h.add("Content-Type", "application/sdp")
        return serialize(SipRequest(method, f"sip:b@127.0.0.1:{port}", h, body.encode()))

    try:
        ua.sendto(request("INVITE", 1, sdp), ("127.0.0.1", port))
        resp = parse_message(await asyncio.wait_for(loop.sock_recv(ua, 4096), 5))
        assert isinstance(resp, SipResponse) and resp.status == 200
        assert b"m=video" in resp.body and b"a=rtpmap:97 H264/90000" in resp.body
        to = resp.headers.get("To") or ""
        tag = to.split("tag=")[1]
        ua.sendto(request("ACK", 1, to_tag=tag), ("127.0.0.1", port))
        for _ in range(50):
            if farm.stats.established:
                break
            await asyncio.sleep(0.02)
        assert farm.stats.established == 1
        ua.sendto(request("BYE", 2, to_tag=tag), ("127.0.0.1", port))
        bye = parse_message(await asyncio.wait_for(loop.sock_recv(ua, 4096), 5))
        assert isinstance(bye, SipResponse) and bye.status == 200
        assert farm.stats.ended == 1
    finally:
        farm.close()
        ua.close()
        media.close()


def test_write_results_keeps_other_sections(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n\n## Someone else's section\nkeep me\n")
    write_results(f"{BEGIN}\nfirst\n{END}\n", path)
    write_results(f"{BEGIN}\nsecond\n{END}\n", path)
    text = path.read_text()
    assert "keep me" in text
    assert "second" in text and "first" not in text
    assert text.count(BEGIN) == 1


def test_pyspy_summary_skips_idle(tmp_path: Path) -> None:
    raw = tmp_path / "x.txt"
    raw.write_text(
        "main (a.py:1);work (b.py:2) 30\n"
        "main (a.py:1);select (selectors.py:3) 70\n"
        "main (a.py:1);work (b.py:2);send (c.py:4) 10\n"
        "main (a.py:1);other (d.py:5) 60\n"
    )
    self_t, incl_t = summarise(str(raw))
    shares = dict(self_t)
    assert shares["work (b.py)"] == pytest.approx(30.0)
    assert shares["send (c.py)"] == pytest.approx(10.0)
    assert "main (a.py)" not in dict(incl_t)  # in every sample: not informative
    assert dict(incl_t)["work (b.py)"] == pytest.approx(40.0)
