"""A media worker's control handling, run in this process over socket pairs."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from wcs.webrtc import events
from wcs.webrtc import fanout_wire as wire
from wcs.webrtc.answer import SourceTrack
from wcs.webrtc.fanout_worker import Worker, WorkerConfig

from .chrome_offer import CHROME_OFFER

pytestmark = pytest.mark.asyncio

TRACKS = wire.tracks_to_wire(
    [
        SourceTrack("audio", "PCMU", 8000),
        SourceTrack("video", "H264", 90000, {"packetization-mode": "1"}),
    ]
)


class Main:
    """The main process's ends of the two channels."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = wire.FrameDecoder()
        self.inbox: list[wire.Message] = []

    def send(self, message: wire.Message) -> None:
        self.writer.write(wire.encode(message))

    async def recv(self, kind: type[Any]) -> Any:
        while True:
            for i, message in enumerate(self.inbox):
                if isinstance(message, kind):
                    return self.inbox.pop(i)
            data = await asyncio.wait_for(self.reader.read(65536), 10)
            assert data, "the worker ended the channel"
            self.inbox += self.decoder.feed(data)


@pytest_asyncio.fixture
async def running() -> AsyncIterator[tuple[Worker, Main, asyncio.Task[None]]]:
    control_main, control_worker = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    media_main, media_worker = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    worker = Worker(WorkerConfig(bind_ip="127.0.0.1", ice_timeout=5), control_worker, media_worker)
    task = asyncio.create_task(worker.run())
    reader, writer = await asyncio.open_connection(sock=control_main)
    yield worker, Main(reader, writer), task
    writer.close()
    await asyncio.wait_for(task, 10)  # EOF on the control channel ends the worker
    media_main.close()


async def test_create_answer_and_close(running: Any) -> None:
    worker, main, _ = running
    main.send(wire.CreateViewer(1, 7, CHROME_OFFER, TRACKS))
    answer = await main.recv(wire.ViewerAnswer)
    assert answer.viewer == 1 and "a=fingerprint:sha-256" in answer.answer
    assert sorted(answer.kinds) == ["audio", "video"]
    assert set(worker.peers) == {1} and worker.stream_of == {1: 7}
    main.send(wire.CloseViewer(1))
    main.send(wire.CreateViewer(2, 7, CHROME_OFFER, TRACKS))
    await main.recv(wire.ViewerAnswer)
    assert set(worker.peers) == {2}


async def test_closed_before_made_is_never_made(running: Any) -> None:
    worker, main, _ = running
    main.send(wire.CreateViewer(1, 7, CHROME_OFFER, TRACKS))
    main.send(wire.CloseViewer(1))
    main.send(wire.CreateViewer(2, 7, CHROME_OFFER, TRACKS))
    answer = await main.recv(wire.ViewerAnswer)
    assert answer.viewer == 2
    assert set(worker.peers) == {2}


async def test_bad_offer_and_bad_tracks_are_refused(running: Any) -> None:
    _, main, _ = running
    main.send(wire.CreateViewer(1, 7, "v=0\r\n", TRACKS))
    refused = await main.recv(wire.ViewerRefused)
    assert (refused.viewer, refused.status) == (1, 400)
    main.send(wire.CreateViewer(2, 7, CHROME_OFFER, [{"kind": "audio"}]))
    refused = await main.recv(wire.ViewerRefused)
    assert (refused.viewer, refused.status) == (2, 400) and "source track" in refused.info
    main.send(wire.CreateViewer(3, 7, CHROME_OFFER, wire.tracks_to_wire([])))
    refused = await main.recv(wire.ViewerRefused)
    assert refused.info == events.NO_COMMON_CODECS


async def test_live_only_after_start_marker(running: Any) -> None:
    worker, main, _ = running
    main.send(wire.CreateViewer(1, 7, CHROME_OFFER, TRACKS))
    await main.recv(wire.ViewerAnswer)
    assert worker.live == {}
    worker._start_live(1)
    assert worker.live == {7: [worker.peers[1]]}
    main.send(wire.CloseViewer(1))
    main.send(wire.CreateViewer(2, 7, CHROME_OFFER, TRACKS))  # a barrier for the close
    await main.recv(wire.ViewerAnswer)
    assert worker.live == {}


async def test_bad_control_data_ends_the_worker(running: Any) -> None:
    _, main, task = running
    main.writer.write(b"\x00\x00\x00\x02\x63{")
    await asyncio.wait_for(task, 10)
    assert task.result() is None
