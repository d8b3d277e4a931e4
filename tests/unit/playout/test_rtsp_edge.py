"""The RTSP asyncio edge with a fake packet source: interleaved and UDP delivery, SR + BYE at
the stream's end, ports back to the allocator, the connection cap."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable

from tests.fixtures.ports import free_port_range
from tests.unit.rtsp.helpers import FakeSource
from wcs.rtp.ports import PortAllocator
from wcs.rtp.rtcp import Bye, SenderReport, parse_compound
from wcs.rtsp.server import EdgeSettings, RtspServer

PACKET = (
    bytes([0x80, 102, 0, 1]) + (90000).to_bytes(4, "big") + (0xABCD).to_bytes(4, "big") + b"x" * 20
)


class Sub:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Source(FakeSource):
    def __init__(self) -> None:
        super().__init__()
        self.subs: list[tuple[Callable[[int, bytes], None], Callable[[], None], Sub]] = []

    def subscribe(self, name: str, on_rtp: Callable[[int, bytes], None],
                  on_end: Callable[[], None]) -> Sub | None:  # fmt: skip
        if name not in self.streams:
            return None
        sub = Sub()
        self.subs.append((on_rtp, on_end, sub))
        return sub


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, text: str) -> str:
    writer.write(text.encode())
    return (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode()


def req(method: str, url: str, cseq: int, *headers: str) -> str:
    return "\r\n".join([f"{method} {url} RTSP/1.0", f"CSeq: {cseq}", *headers, "", ""])


async def frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await asyncio.wait_for(reader.readexactly(4), 5)
    assert head[0] == 0x24
    return head[1], await reader.readexactly(int.from_bytes(head[2:], "big"))


def run(test: Callable[[RtspServer, Source, PortAllocator], object], **kw: object) -> None:
    async def main() -> None:
        first = free_port_range(10)
        ports = PortAllocator(first, first + 9, host="127.0.0.1")
        source = Source()
        server = RtspServer(source, host="127.0.0.1", port=0, allocate_ports=ports.allocate_pair,
                            settings=EdgeSettings(**kw))  # type: ignore[arg-type]  # fmt: skip
        await server.start()
        try:
            await test(server, source, ports)  # type: ignore[misc]
        finally:
            await server.close()
            ports.close()

    asyncio.run(main())


def test_interleaved_play_then_the_stream_ends() -> None:
    async def test(server: RtspServer, source: Source, ports: PortAllocator) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        url = f"rtsp://127.0.0.1:{server.port}/cam"
        tcp = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1"
        head = await exchange(reader, writer, req("SETUP", f"{url}/trackID=0", 1, tcp))
        session = re.search(r"Session: ([^;\r]+)", head)
        assert session and " 200 " in head
        head = await exchange(reader, writer, req("PLAY", url, 2, f"Session: {session[1]}"))
        assert " 200 " in head and len(source.subs) == 1
        on_rtp, on_end, sub = source.subs[0]
        on_rtp(0, PACKET)
        on_rtp(1, PACKET)  # a track the session did not set up: not sent
        assert await frame(reader) == (0, PACKET)
        on_end()
        channel, rtcp = await frame(reader)
        packets = parse_compound(rtcp)
        assert channel == 1 and isinstance(packets[0], SenderReport)
        assert packets[0].ssrc == 0xABCD and packets[0].packet_count == 1
        assert isinstance(packets[-1], Bye) and sub.cancelled
        # The session stays for the player's TEARDOWN.
        head = await exchange(reader, writer, req("TEARDOWN", url, 3, f"Session: {session[1]}"))
        assert " 200 " in head
        writer.close()

    run(test)


def test_udp_play_and_ports_released() -> None:
    async def test(server: RtspServer, source: Source, ports: PortAllocator) -> None:
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind(("127.0.0.1", 0))
        rtp.settimeout(5)
        port = rtp.getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        url = f"rtsp://127.0.0.1:{server.port}/voice"
        udp = f"Transport: RTP/AVP;unicast;client_port={port}-{port + 1}"
        head = await exchange(reader, writer, req("SETUP", f"{url}/trackID=0", 1, udp))
        session = re.search(r"Session: ([^;\r]+)", head)
        assert session and "server_port=" in head and ports.in_use == 1
        await exchange(reader, writer, req("PLAY", url, 2, f"Session: {session[1]}"))
        source.subs[0][0](0, PACKET)
        assert (await asyncio.to_thread(rtp.recv, 2048)) == PACKET
        writer.close()  # the control connection goes: the session and its ports too
        for _ in range(100):
            if not ports.in_use:
                break
            await asyncio.sleep(0.01)
        assert ports.in_use == 0 and source.subs[0][2].cancelled
        rtp.close()

    run(test)


def test_connections_over_the_cap_are_closed() -> None:
    async def test(server: RtspServer, source: Source, ports: PortAllocator) -> None:
        r1, w1 = await asyncio.open_connection("127.0.0.1", server.port)
        assert " 200 " in await exchange(r1, w1, req("OPTIONS", "*", 1))
        r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
        w2.write(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        assert await asyncio.wait_for(r2.read(), 5) == b""
        assert server.dropped_clients == 1
        w1.close()
        w2.close()

    run(test, max_connections=1)
