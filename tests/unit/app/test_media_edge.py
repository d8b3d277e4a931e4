"""CallMedia's setup (the socket edge): a failure while allocating undoes what it took, and
the real error reaches the caller (it was hidden behind "'CallMedia' object has no attribute
'closed'" while the ports already taken leaked)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.peers.ports import free_port_range
from wcs.app.media import CallMedia
from wcs.app.streams import StreamExists, StreamHub
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
