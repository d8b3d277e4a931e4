"""The main side of the media workers without processes: what goes on the media socket."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from wcs.app.streams import PacketSink, Subscription
from wcs.webrtc import events
from wcs.webrtc import fanout_wire as wire
from wcs.webrtc.answer import SourceTrack
from wcs.webrtc.fanout import WORKER_EXIT, RemotePeer, WorkerHandle, WorkerPool
from wcs.webrtc.fanout_worker import WorkerConfig

TRACKS = [SourceTrack("video", "H264", 90000, {"packetization-mode": "1"})]


class FakeStream:
    published = True

    def __init__(self, cached: list[bytes]) -> None:
        self.cached = cached
        self.sinks: list[PacketSink] = []

    def cached_packets(self) -> list[bytes]:
        return list(self.cached)

    def subscribe_packets(self, sink: PacketSink) -> Subscription:
        self.sinks.append(sink)
        return Subscription(lambda: self.sinks.remove(sink))

    def feed(self, kind: str, packet: bytes) -> None:
        for sink in list(self.sinks):
            sink.on_rtp(kind, packet)


def rtp(n: int) -> bytes:
    return b"\x80\x60" + n.to_bytes(2, "big") + bytes(20)


@pytest.fixture
def worker() -> Any:
    pool = WorkerPool(2, WorkerConfig())
    handle = pool.workers[0]
    main, far = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    main.setblocking(False)
    far.setblocking(False)
    handle.send_media = main.send
    handle.alive = True
    sent: list[wire.Message] = []
    handle.send = sent.append  # type: ignore[method-assign]
    yield handle, far, sent
    main.close()
    far.close()


def drain(sock: socket.socket) -> list[tuple[int, int, int, bytes]]:
    out = []
    while True:
        try:
            out.append(wire.parse_media(sock.recv(70000)))
        except BlockingIOError:
            return out


def test_cached_keyframe_for_the_newcomer_alone_then_live_once_per_worker(worker: Any) -> None:
    handle, far, _ = worker
    stream = FakeStream([rtp(1), rtp(2)])
    a = RemotePeer(handle, 11, "offer", TRACKS)
    b = RemotePeer(handle, 12, "offer", TRACKS)
    a.attach(stream)  # type: ignore[arg-type]
    stream.feed("video", rtp(3))
    stream.feed("audio", rtp(4))
    b.attach(stream)  # type: ignore[arg-type]
    stream.feed("video", rtp(5))
    got = drain(far)
    key = got[0][0]
    assert len(stream.sinks) == 1  # one relay for both viewers
    assert got == [
        (key, 11, wire.KIND_VIDEO, rtp(1)),
        (key, 11, wire.KIND_VIDEO, rtp(2)),
        (key, 11, wire.KIND_START, b""),
        (key, 0, wire.KIND_VIDEO, rtp(3)),
        (key, 0, wire.KIND_AUDIO, rtp(4)),
        (key, 12, wire.KIND_VIDEO, rtp(1)),
        (key, 12, wire.KIND_VIDEO, rtp(2)),
        (key, 12, wire.KIND_START, b""),
        (key, 0, wire.KIND_VIDEO, rtp(5)),
    ]
    # The relay leaves the stream with the worker's last viewer of it.
    a.detach()
    assert len(stream.sinks) == 1
    b.detach()
    assert stream.sinks == []


def test_a_full_media_socket_is_a_counted_drop(worker: Any) -> None:
    handle, far, sent = worker
    stream = FakeStream([])
    peer = RemotePeer(handle, 11, "offer", TRACKS)
    peer.attach(stream)  # type: ignore[arg-type]
    big = rtp(0) + bytes(60000)
    for _ in range(2000):  # far more than the socket buffer holds; nothing reads
        stream.feed("video", big)
    assert handle.media_drops > 0
    stream.sinks.clear()
    drain(far)
    # No room for a START marker: it goes over the control channel instead.
    while True:
        try:
            handle.send_media(big)
        except BlockingIOError:
            break
    other = RemotePeer(handle, 12, "offer", TRACKS)
    other.attach(stream)  # type: ignore[arg-type]
    assert sent == [wire.StartLive(12)]


def test_worker_death_fails_its_viewers_with_a_clear_info(worker: Any) -> None:
    handle, _, _ = worker
    states: list[events.PeerStateChanged] = []
    peer = RemotePeer(handle, 11, "offer", TRACKS)
    peer.on_state = states.append
    handle.viewers[11] = peer
    handle.pool.closing = True  # no restart in a unit test
    handle._ended()
    assert states == [events.PeerStateChanged(events.FAILED, WORKER_EXIT)]
    assert peer.stats()["info"] == WORKER_EXIT and handle.viewers == {}
    assert not handle.alive


def test_least_loaded_worker_is_picked() -> None:
    pool = WorkerPool(2, WorkerConfig())
    for w in pool.workers:
        w.alive = True
    first = pool.peer("offer", TRACKS)
    first.worker.viewers[first.viewer_id] = first
    second = pool.peer("offer", TRACKS)
    assert second.worker is not first.worker
    for w in pool.workers:
        w.alive = False
    with pytest.raises(Exception, match=WORKER_EXIT):
        pool.peer("offer", TRACKS)


def test_worker_handle_is_not_running_before_start() -> None:
    handle = WorkerHandle(WorkerPool(1, WorkerConfig()), 0)
    with pytest.raises(ConnectionError):
        handle.send_media(b"x")


def test_restart_backs_off_while_a_worker_dies_young() -> None:
    from wcs.webrtc.fanout import (
        RESTART_DELAY,
        RESTART_DELAY_MAX,
        STABLE_AFTER,
        next_restart_delay,
    )

    delay = RESTART_DELAY
    seen = []
    for _ in range(8):
        delay = next_restart_delay(delay, lived=0.5)
        seen.append(delay)
    assert seen[:3] == [2 * RESTART_DELAY, 4 * RESTART_DELAY, 8 * RESTART_DELAY]
    assert seen[-1] == RESTART_DELAY_MAX
    assert next_restart_delay(RESTART_DELAY_MAX, lived=STABLE_AFTER) == RESTART_DELAY
