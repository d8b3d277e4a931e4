"""The product's WebRTC fan-out on its own: plain RTP in, N ``ViewerPeer``s out, WHEP signalling.

A stand-in for the full server's play path, made only of product parts (``ViewerPeer``,
``TrackSender``, SRTP, ICE), so the per-packet cost of the hot path can be measured and
profiled in isolation, and compared with the full server once it serves WHEP.

    python3 -m bench.relay_proc [--uvloop] [--profile out.prof]
prints one JSON line {"http": port, "audio": port, "video": port} when ready; serves
``POST /whep/<any>`` (201 + answer, Location) and ``DELETE <Location>``; stops on SIGTERM
(writing the cProfile stats first when asked).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import secrets
import signal
import socket
import sys
from typing import Any

from wcs.webrtc.answer import SourceTrack
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.peer import ViewerPeer
from wcs.webrtc.transport import PeerSettings

TRACKS = [
    SourceTrack("audio", "PCMU", 8000),
    SourceTrack("video", "H264", 90000, {"profile-level-id": "42e01f", "packetization-mode": "1"}),
]


class Relay:
    def __init__(self) -> None:
        self.cert = Certificate.generate()
        self.peers: dict[str, ViewerPeer] = {}
        self.fanout: list[ViewerPeer] = []  # flat list for the hot loop
        self.received = 0

    def packet(self, kind: str, data: bytes) -> None:
        self.received += 1
        for peer in self.fanout:
            peer.send_rtp(kind, data)

    async def whep(self, offer: str) -> tuple[str, str]:
        peer = ViewerPeer(offer, TRACKS, PeerSettings(self.cert, bind_ip="127.0.0.1"))
        answer = await peer.start()
        rid = secrets.token_hex(8)
        self.peers[rid] = peer
        self.fanout = list(self.peers.values())
        return rid, answer

    async def delete(self, rid: str) -> bool:
        peer = self.peers.pop(rid, None)
        self.fanout = list(self.peers.values())
        if peer is None:
            return False
        await peer.close()
        return True

    async def http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v.strip())
            body = await reader.readexactly(length) if length else b""
            if method == "POST" and path.startswith("/whep/"):
                try:
                    rid, answer = await self.whep(body.decode())
                except ValueError as exc:
                    await _reply(writer, 400, str(exc).encode(), "text/plain")
                    return
                await _reply(
                    writer,
                    201,
                    answer.encode(),
                    "application/sdp",
                    {"Location": f"/whep/resource/{rid}"},
                )
            elif method == "DELETE" and path.startswith("/whep/resource/"):
                ok = await self.delete(path.rsplit("/", 1)[1])
                await _reply(writer, 200 if ok else 404, b"", "text/plain")
            elif method == "GET" and path == "/stats":
                await _reply(
                    writer,
                    200,
                    json.dumps({"peers": len(self.peers), "received": self.received}).encode(),
                    "application/json",
                )
            else:
                await _reply(writer, 404, b"", "text/plain")
        except (asyncio.IncompleteReadError, ValueError, ConnectionError):
            pass
        finally:
            writer.close()


async def _reply(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    ctype: str,
    extra: dict[str, str] | None = None,
) -> None:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
    for k, v in (extra or {}).items():
        head += f"{k}: {v}\r\n"
    writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
    await writer.drain()


class _Rtp(asyncio.DatagramProtocol):
    def __init__(self, relay: Relay, kind: str) -> None:
        self.relay, self.kind = relay, kind

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.relay.packet(self.kind, data)


async def serve() -> None:
    relay = Relay()
    loop = asyncio.get_running_loop()
    ports: dict[str, int] = {}
    for kind in ("audio", "video"):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind(("127.0.0.1", 0))
        ports[kind] = sock.getsockname()[1]
        await loop.create_datagram_endpoint(lambda k=kind: _Rtp(relay, k), sock=sock)  # type: ignore[misc]
    server = await asyncio.start_server(relay.http, "127.0.0.1", 0)
    http_port = server.sockets[0].getsockname()[1]
    print(json.dumps({"http": http_port, **ports, "loop": type(loop).__module__}), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for rid in list(relay.peers):
        await relay.delete(rid)
    server.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uvloop", action="store_true", help="use uvloop (must be installed)")
    ap.add_argument("--profile", help="write cProfile stats here on exit")
    args = ap.parse_args(argv)
    prof = cProfile.Profile() if args.profile else None
    if prof is not None:
        prof.enable()
    if args.uvloop:
        import uvloop

        uvloop.run(serve())
    else:
        asyncio.run(serve())
    if prof is not None:
        prof.disable()
        prof.dump_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
