"""Self-test of the real-peer fixtures: Kamailio, baresip callee/caller, nginx-rtmp."""

from __future__ import annotations

import itertools
import socket
import struct
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ports import free_port, free_port_range, free_udp_port_pair
from tests.peers.baresip import Callee, Caller, start_callee
from tests.peers.kamailio import Kamailio
from tests.peers.procs import PeerError
from tests.peers.rtmp import NginxRtmp, ffmpeg_publish
from tests.peers.sipping import sip_options

CalleeFactory = Callable[..., Callee]
CallerFactory = Callable[..., Caller]


def _zero_crossing_hz(path: Path) -> float:
    """Rough tone frequency of a mono s16 WAV, from its zero crossings."""
    with wave.open(str(path)) as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    voiced = [s for s in samples if s != 0]
    crossings = sum(1 for a, b in itertools.pairwise(voiced) if (a < 0) != (b < 0))
    return float(crossings / 2 / (len(samples) / rate))


def test_free_ports_are_free_on_udp_and_tcp() -> None:
    ports = [free_port(), *free_udp_port_pair(), free_port_range(4)]
    assert len(set(ports)) == len(ports)
    low, high = free_udp_port_pair()
    assert low % 2 == 0 and high == low + 1
    for port in ports:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("127.0.0.1", port))


def test_kamailio_answers_options_on_udp_and_tcp(kamailio: Kamailio) -> None:
    assert kamailio.port not in (5060, 5080)
    for transport in ("udp", "tcp"):
        assert sip_options(kamailio.host, kamailio.port, transport) == "SIP/2.0 200 OK"


def test_callee_registers(kamailio: Kamailio, callee: CalleeFactory) -> None:
    peer = callee()
    assert kamailio.registered("1002")
    contact = kamailio.contact("1002")
    assert contact is not None and f":{peer.sip_port}" in contact
    assert "--- Active calls (0) ---" in peer.listcalls()


def test_call_through_kamailio_is_established_with_rtp(
    callee: CalleeFactory, caller: CallerFactory
) -> None:
    answering = callee()
    res = caller().call("1002", hold_s=2)
    assert res.established, res
    assert res.rtp["audio"]["rx_packets"] > 0 and res.rtp["audio"]["tx_packets"] > 0
    assert res.rtp["video"]["rx_packets"] > 0
    recording = answering.received_audio
    assert recording is not None
    # the callee heard the caller's 440 Hz tone
    assert 400 < _zero_crossing_hz(recording) < 480


def test_busy_callee_answers_486(callee: CalleeFactory, caller: CallerFactory) -> None:
    callee(mode="busy")
    res = caller().call("1002", timeout_s=15)
    assert not res.established
    assert res.ringing
    assert res.status == 486, res.closed


def test_proxy_test_number_answers_603(caller: CallerFactory) -> None:
    res = caller(media="audio").call("1603", timeout_s=15)
    assert res.status == 603, res.closed


def test_wrong_password_gets_403(
    kamailio: Kamailio, tmp_path: Path, peer_media_dir: Path
) -> None:
    with pytest.raises(PeerError, match="403"):
        start_callee(kamailio, tmp_path / "callee-1099", peer_media_dir, user="1099",
                     media="audio")
    assert not kamailio.registered("1099")


def test_two_callees_at_once(
    kamailio: Kamailio, callee: CalleeFactory, caller: CallerFactory
) -> None:
    first = callee("1002", media="audio")
    second = callee("1003", media="audio", tone_hz=2000, transport="tcp")
    assert kamailio.registered("1002") and kamailio.registered("1003")
    assert len({first.sip_port, second.sip_port, first.ctrl_port, second.ctrl_port}) == 4
    dialer = caller(media="audio")
    res = dialer.call("1003", hold_s=1)
    assert res.established, res
    assert second.received_audio is not None
    assert first.received_audio is None
    # the caller heard 1003's 2 kHz tone, not 1002's 1 kHz one
    heard = dialer.received_audio
    assert heard is not None
    assert 1900 < _zero_crossing_hz(heard) < 2100


def test_nginx_rtmp_relays_a_published_stream(
    nginx_rtmp: NginxRtmp, ffprobe: Callable[..., list[dict[str, Any]]], tmp_path: Path
) -> None:
    assert nginx_rtmp.port != 1935
    url = nginx_rtmp.url("selftest")
    publisher = ffmpeg_publish(url, 20, tmp_path / "publish.log")
    try:
        deadline = time.monotonic() + 15
        while "<name>selftest</name>" not in nginx_rtmp.stat_xml():
            assert publisher.alive(), publisher.log_text()
            assert time.monotonic() < deadline, "stream never appeared in rtmp_stat"
            time.sleep(0.2)
        streams = {s["codec_type"]: s for s in ffprobe(url)}
    finally:
        publisher.stop(grace=3)
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (640, 360)
    assert streams["audio"]["codec_name"] == "aac"
