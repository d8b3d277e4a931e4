"""CallMedia's setup (the socket edge): a failure while allocating undoes what it took, and
the real error reaches the caller (it was hidden behind "'CallMedia' object has no attribute
'closed'" while the ports already taken leaked)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from tests.peers.ports import free_port_range
from wcs.app.media import RTP_ACTIVITY_FAILED, CallMedia, MediaConfig
from wcs.app.streams import StreamExists, StreamHub
from wcs.rtp.packet import RtpPacket
from wcs.rtp.ports import PortAllocator, PortsExhausted


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_port_exhaustion_releases_the_ports_already_taken(
    loop: asyncio.AbstractEventLoop,
) -> None:
    base = free_port_range(2, step=2)
    ports = PortAllocator(base, base + 1, "127.0.0.1")  # room for one pair: audio, not video
    with pytest.raises(PortsExhausted):
        CallMedia("c1", ports, "127.0.0.1", True, True, loop=loop)
    assert ports.in_use == 0
    media = CallMedia("c2", ports, "127.0.0.1", True, False, loop=loop)  # the pair is free
    assert media.audio_ports is not None and media.audio_ports.rtp_port == base
    media.close("test")
    assert ports.in_use == 0


def test_a_taken_stream_name_allocates_nothing(loop: asyncio.AbstractEventLoop) -> None:
    base = free_port_range(4, step=2)
    ports = PortAllocator(base, base + 3, "127.0.0.1")
    hub = StreamHub()
    hub.publish("s", call_id=None, app_key="a")
    with pytest.raises(StreamExists):
        CallMedia("c1", ports, "127.0.0.1", True, True, loop=loop, hub=hub, stream_name="s")
    assert ports.in_use == 0


def test_close_releases_ports_and_unpublishes(loop: asyncio.AbstractEventLoop) -> None:
    base = free_port_range(4, step=2)
    ports = PortAllocator(base, base + 3, "127.0.0.1")
    hub = StreamHub()
    media = CallMedia("c1", ports, "127.0.0.1", True, True, loop=loop, hub=hub, stream_name="s")
    media.offer()
    media.on_remote_sdp(
        b"v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        b"m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\nm=video 0 RTP/AVP 96\r\n",
        True,
    )
    assert hub.get("s") is not None and set(media.sessions) == {"audio"}
    media.close("hangup")
    media.close("again")  # harmless
    assert hub.get("s") is None and ports.in_use == 0


class Control:
    def __init__(self) -> None:
        self.failed = asyncio.Event()
        self.info: list[str] = []

    def fail(self, call_id: str, info: str) -> bool:
        self.info.append(info)
        self.failed.set()
        return True

    def terminate(self, call_id: str) -> bool:
        return True

    def send_info(self, call_id: str, content_type: str, body: bytes) -> bool:
        return True


@pytest.mark.asyncio
async def test_the_edge_moves_datagrams_and_delivers_the_core_events() -> None:
    """On loopback: init packets reach the peer from our RTP port, the peer's RTP reaches the
    session, and the inactivity failure comes through the Pump to the call control."""
    loop = asyncio.get_running_loop()
    base = free_port_range(2, step=2)
    ports = PortAllocator(base, base + 1, "127.0.0.1")
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(5)
    control = Control()
    media = CallMedia(
        "c1",
        ports,
        "127.0.0.1",
        True,
        False,
        loop=loop,
        control=control,
        config=MediaConfig(activity_timeout=0.3, send_silence=False),
    )
    try:
        media.offer()
        port = peer.getsockname()[1]
        media.on_remote_sdp(
            f"v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n".encode(),
            True,
        )
        data, source = await loop.run_in_executor(None, peer.recvfrom, 2048)
        assert source == ("127.0.0.1", base) and data[1] & 0x7F == 0
        peer.sendto(RtpPacket(0, 1, 0, 0x77, b"\xff" * 160).serialize(), ("127.0.0.1", base))
        await asyncio.wait_for(control.failed.wait(), 10)
        assert control.info == [RTP_ACTIVITY_FAILED]
        assert media.sessions["audio"].stats.sources[0x77].packets == 1
    finally:
        media.close("test")
        peer.close()
    assert ports.in_use == 0
