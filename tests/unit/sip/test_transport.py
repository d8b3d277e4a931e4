from __future__ import annotations

import asyncio
import socket

from wcs.sip.events import Event, RegistrationFailed, RegistrationSucceeded
from wcs.sip.framer import StreamFramer
from wcs.sip.message import SipRequest, parse_message
from wcs.sip.transport import SipTransport
from wcs.sip.ua import Account, UserAgent

from .peer import reply

OPTIONS = (
    "OPTIONS sip:wcs@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/{t} 127.0.0.1:{port};branch=z9hG4bKopt{n};rport\r\n"
    "From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:wcs@127.0.0.1>\r\n"
    "Call-ID: opt{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


def test_udp_and_tcp_on_same_port_answer_options() -> None:
    async def main() -> None:
        ua = UserAgent(local_port=0, public_ip="127.0.0.1")
        edge = SipTransport(ua, "127.0.0.1", 0, lambda ev: None)
        await edge.start()
        try:
            assert edge.port > 0 and ua.local_port == edge.port
            loop = asyncio.get_running_loop()
            # UDP
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            me = sock.getsockname()[1]
            data = OPTIONS.format(t="UDP", port=me, n=1).encode()
            await loop.sock_sendto(sock, data, ("127.0.0.1", edge.port))
            got = await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
            resp = parse_message(got)
            assert resp.start_line() == "SIP/2.0 200 OK"
            assert resp.top_via.rport == me
            sock.close()
            # TCP, two messages in one write plus a keep-alive CRLF
            reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
            writer.write(
                b"\r\n\r\n"
                + OPTIONS.format(t="TCP", port=1, n=2).encode()
                + OPTIONS.format(t="TCP", port=1, n=3).encode()
            )
            framer = StreamFramer()
            msgs: list[bytes] = []
            while len(msgs) < 2:
                msgs += framer.feed(await asyncio.wait_for(reader.read(65535), 5))
            assert [parse_message(m).call_id for m in msgs] == ["opt2", "opt3"]
            assert edge.connections == 1
            writer.close()
        finally:
            await edge.close()

    asyncio.run(main())


def _registrar_reply(data: bytes) -> bytes:
    req = parse_message(data)
    assert isinstance(req, SipRequest) and req.method == "REGISTER"
    contact = req.headers.get("Contact") or ""
    return reply(req, 200, "OK", headers=[("Contact", contact + ";expires=120")]).serialize()


def test_register_over_udp_and_tcp_delivers_events() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        events: list[Event] = []
        got_event = asyncio.Event()

        def on_event(ev: Event) -> None:
            events.append(ev)
            got_event.set()

        # a minimal registrar on UDP and TCP
        class Udp(asyncio.DatagramProtocol):
            t: asyncio.DatagramTransport

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.t = transport  # type: ignore[assignment]

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                self.t.sendto(_registrar_reply(data), addr)

        udp, _ = await loop.create_datagram_endpoint(Udp, local_addr=("127.0.0.1", 0))
        uport = udp.get_extra_info("sockname")[1]

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            framer = StreamFramer()
            while data := await r.read(65535):
                for m in framer.feed(data):
                    w.write(_registrar_reply(m))
            w.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        tport = server.sockets[0].getsockname()[1]

        ua = UserAgent(local_port=0, public_ip="127.0.0.1")
        edge = SipTransport(ua, "127.0.0.1", 0, on_event)
        await edge.start()
        try:
            for transport, port in (("udp", uport), ("tcp", tport)):
                got_event.clear()
                acc = Account(login="1003", domain="localhost", port=port, transport=transport)
                reg_id = ua.register(acc, edge.now())
                edge.wake()
                await asyncio.wait_for(got_event.wait(), 5)
                assert events[-1] == RegistrationSucceeded(reg_id, 120)
            assert edge.connections == 1  # the TCP one, to the registrar
        finally:
            await edge.close()
            udp.close()
            server.close()

    asyncio.run(main())


def test_tcp_connect_failure_fails_the_request_at_once() -> None:
    async def main() -> None:
        # a port with nothing listening on TCP
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
        probe.close()
        events: list[Event] = []
        ua = UserAgent(local_port=0, public_ip="127.0.0.1")
        edge = SipTransport(ua, "127.0.0.1", 0, events.append)
        await edge.start()
        try:
            acc = Account(login="1003", domain="127.0.0.1", port=dead, transport="tcp")
            reg_id = ua.register(acc, edge.now())
            edge.wake()
            for _ in range(200):
                if events:
                    break
                await asyncio.sleep(0.01)
            assert events == [
                RegistrationFailed(reg_id, None, "Request Timeout", "Transport error")
            ]
        finally:
            await edge.close()

    asyncio.run(main())
