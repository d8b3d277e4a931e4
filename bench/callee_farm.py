"""Callee farm: a light SIP UAS (UDP) that answers every INVITE and sends the trace's media.

Each answered call gets two RTP sockets (audio, video) named in its SDP answer; once the ACK
arrives the shared ``Feeder`` sends PCMU + H.264 from the recorded trace to the offerer's
ports at real rate, each packet stamped with its send time. BYE stops it. What the server
sends back (silence, RTCP) is drained and counted, never answered.

Direct mode: the server calls ``sip:<anything>@127.0.0.1:<farm port>``. Through Kamailio:
``register()`` binds a user (digest auth) to the farm, and calls to that user reach it.

    python3 -m bench.callee_farm --port 0     # prints {"sip_port": N}; runs until SIGTERM
    python3 -m bench.callee_farm --trace hd   # every call sends bench.hd_trace's stream
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.trace_feed import TRACES, Destination, Feeder, named_trace
from wcs.sdp import SessionDescription
from wcs.sip.auth import DigestCredentials, choose_challenge
from wcs.sip.message import Headers, SipRequest, SipResponse, parse_message, serialize

T1 = 0.5
H264_FMTP = "packetization-mode=1;profile-level-id=42e01f"


@dataclass
class FarmCall:
    call_id: str
    to_tag: str
    response: bytes  # the 200 OK, resent until the ACK
    addr: tuple[str, int]
    audio_sock: socket.socket
    video_sock: socket.socket
    dest: Destination
    invite_at: float
    ack_at: float = 0.0
    bye_at: float = 0.0
    retransmits: int = 0
    timer: asyncio.TimerHandle | None = None


@dataclass
class FarmStats:
    invites: int = 0
    established: int = 0
    ended: int = 0
    rejected: int = 0
    rx_packets: int = 0  # media the server sent us (silence, RTCP)
    established_times: list[float] = field(default_factory=list)


class CalleeFarm(asyncio.DatagramProtocol):
    def __init__(
        self, feeder: Feeder, host: str = "127.0.0.1", port: int = 0, drain: bool = True
    ) -> None:
        self.feeder = feeder
        self.host = host
        self.req_port = port
        self.port = 0
        self.drain = drain
        self.calls: dict[str, FarmCall] = {}
        self.stats = FarmStats()
        self.transport: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[str, asyncio.Future[SipResponse]] = {}  # our REGISTER by branch
        self.established = asyncio.Event()
        self.want = 0  # set ``established`` when this many calls are up

    async def start(self) -> int:
        self._loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        sock.bind((self.host, self.req_port))
        await self._loop.create_datagram_endpoint(lambda: self, sock=sock)
        self.port = sock.getsockname()[1]
        return self.port

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not data.strip():
            return  # keepalive CRLFs
        try:
            msg = parse_message(data)
        except ValueError:
            return
        if isinstance(msg, SipResponse):
            try:
                branch = msg.top_via.params.get("branch", "")
            except ValueError:
                return
            fut = self._pending.pop(str(branch), None)
            if fut is not None and not fut.done() and msg.status >= 200:
                fut.set_result(msg)
            elif fut is not None and msg.status < 200:
                self._pending[str(branch)] = fut
            return
        self._request(msg, addr)

    # --- UAS ---------------------------------------------------------------------------

    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)

    def _response(
        self,
        req: SipRequest,
        status: int,
        reason: str,
        to_tag: str = "",
        body: bytes = b"",
        extra: list[tuple[str, str]] | None = None,
    ) -> bytes:
        h = Headers()
        for v in req.headers.get_all("Via"):
            h.add("Via", v)
        for v in req.headers.get_all("Record-Route"):
            h.add("Record-Route", v)
        h.add("From", req.headers.get("From") or "")
        to = req.headers.get("To") or ""
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        h.add("To", to)
        h.add("Call-ID", req.call_id)
        h.add("CSeq", req.headers.get("CSeq") or "")
        for name, value in extra or []:
            h.add(name, value)
        if body:
            h.add("Content-Type", "application/sdp")
        return serialize(SipResponse(status, reason, h, body))

    def _request(self, req: SipRequest, addr: tuple[str, int]) -> None:
        m = req.method
        call = self.calls.get(req.call_id)
        if m == "INVITE":
            if call is not None:  # retransmission or re-INVITE: the same answer again
                self._send(call.response, addr)
                return
            self._invite(req, addr)
        elif m == "ACK":
            if call is not None and not call.ack_at:
                call.ack_at = time.monotonic()
                if call.timer is not None:
                    call.timer.cancel()
                self.feeder.add(call.dest)
                self.stats.established += 1
                self.stats.established_times.append(call.ack_at)
                if self.want and self.stats.established >= self.want:
                    self.established.set()
        elif m == "BYE":
            self._send(self._response(req, 200, "OK"), addr)
            if call is not None:
                self._end(call)
        elif m == "CANCEL":
            self._send(self._response(req, 200, "OK"), addr)
        else:  # OPTIONS, UPDATE (session refresh), INFO...
            self._send(self._response(req, 200, "OK"), addr)

    def _invite(self, req: SipRequest, addr: tuple[str, int]) -> None:
        self.stats.invites += 1
        try:
            offer = SessionDescription.parse(req.body.decode())
        except (ValueError, UnicodeDecodeError):
            self.stats.rejected += 1
            self._send(self._response(req, 488, "Not Acceptable Here", secrets.token_hex(4)), addr)
            return
        conn_ip = offer.connection.address if offer.connection else "127.0.0.1"
        audio = video = None
        video_pt = 96
        for media in offer.media:
            ip = media.connection.address if media.connection else conn_ip
            if media.kind == "audio" and media.port and media.codec(0) is not None:
                audio = (ip, media.port)
            elif media.kind == "video" and media.port:
                h264 = [c for c in media.codecs if c.name.lower() == "h264"]
                mode1 = [c for c in h264 if c.parameters.get("packetization-mode") == "1"]
                if mode1 or h264:
                    video = (ip, media.port)
                    video_pt = (mode1 or h264)[0].payload_type
        if audio is None and video is None:
            self.stats.rejected += 1
            self._send(self._response(req, 488, "Not Acceptable Here", secrets.token_hex(4)), addr)
            return
        a_sock, v_sock = _rtp_socket(self.host), _rtp_socket(self.host)
        if self.drain and self._loop is not None:
            for s in (a_sock, v_sock):
                self._loop.add_reader(s.fileno(), self._drain, s)
        sdp = _answer(
            self.host,
            a_sock.getsockname()[1],
            v_sock.getsockname()[1],
            audio is not None,
            video is not None,
            video_pt,
        )
        tag = secrets.token_hex(4)
        resp = self._response(
            req,
            200,
            "OK",
            tag,
            sdp.encode(),
            [
                ("Contact", f"<sip:farm@{self.host}:{self.port}>"),
                ("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"),
            ],
        )
        dest = Destination(a_sock, audio, video, video_pt=video_pt, video_sock=v_sock)
        call = FarmCall(req.call_id, tag, resp, addr, a_sock, v_sock, dest, time.monotonic())
        self.calls[req.call_id] = call
        self._send(resp, addr)
        self._arm(call, T1)

    def _arm(self, call: FarmCall, interval: float) -> None:
        if self._loop is None:
            return

        def again() -> None:
            if call.ack_at or call.bye_at or call.retransmits >= 7:
                return
            call.retransmits += 1
            self._send(call.response, call.addr)
            self._arm(call, min(interval * 2, 4.0))

        call.timer = self._loop.call_later(interval, again)

    def _drain(self, sock: socket.socket) -> None:
        while True:
            try:
                sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.stats.rx_packets += 1

    def _end(self, call: FarmCall) -> None:
        if call.bye_at:
            return
        call.bye_at = time.monotonic()
        self.stats.ended += 1
        self.feeder.remove(call.dest)
        if call.timer is not None:
            call.timer.cancel()
        for s in (call.audio_sock, call.video_sock):
            if self.drain and self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(s.fileno())
            s.close()

    def close(self) -> None:
        for call in list(self.calls.values()):
            self._end(call)
        if self.transport is not None:
            self.transport.close()

    # --- registration (through Kamailio) ------------------------------------------------

    async def register(
        self, proxy: tuple[str, int], user: str, password: str, realm: str, expires: int = 600
    ) -> int:
        """REGISTER ``user`` at ``proxy`` with digest auth; the final status code."""
        creds = DigestCredentials(user, password)
        call_id = secrets.token_hex(8)
        tag = secrets.token_hex(4)
        uri = f"sip:{realm}"
        auth: tuple[str, str] | None = None
        for cseq in (1, 2):
            branch = "z9hG4bK" + secrets.token_hex(8)
            h = Headers()
            h.add("Via", f"SIP/2.0/UDP {self.host}:{self.port};branch={branch};rport")
            h.add("Max-Forwards", "70")
            h.add("From", f"<sip:{user}@{realm}>;tag={tag}")
            h.add("To", f"<sip:{user}@{realm}>")
            h.add("Call-ID", call_id)
            h.add("CSeq", f"{cseq} REGISTER")
            h.add("Contact", f"<sip:{user}@{self.host}:{self.port}>")
            h.add("Expires", str(expires))
            if auth is not None:
                h.add(*auth)
            assert self._loop is not None
            fut: asyncio.Future[SipResponse] = self._loop.create_future()
            self._pending[branch] = fut
            data = serialize(SipRequest("REGISTER", uri, h))
            resp = None
            for attempt in range(4):
                self._send(data, proxy)
                try:
                    resp = await asyncio.wait_for(asyncio.shield(fut), T1 * 2**attempt)
                    break
                except TimeoutError:
                    continue
            if resp is None:
                return 408
            if resp.status in (401, 407) and auth is None:
                name = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
                challenge = choose_challenge(resp.headers.get_all(name))
                hname = "Authorization" if resp.status == 401 else "Proxy-Authorization"
                auth = (hname, creds.authorization(challenge, "REGISTER", uri))
                continue
            return resp.status
        return 401


def _rtp_socket(host: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.setblocking(False)
    return s


def _answer(host: str, a_port: int, v_port: int, audio: bool, video: bool, video_pt: int) -> str:
    sid = secrets.randbits(32)
    lines = ["v=0", f"o=farm {sid} {sid} IN IP4 {host}", "s=-", f"c=IN IP4 {host}", "t=0 0"]
    lines += [
        f"m=audio {a_port if audio else 0} RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000",
        "a=ptime:20",
        "a=sendrecv",
    ]
    lines += [
        f"m=video {v_port if video else 0} RTP/AVP {video_pt}",
        f"a=rtpmap:{video_pt} H264/90000",
        f"a=fmtp:{video_pt} {H264_FMTP}",
        "a=sendrecv",
    ]
    return "\r\n".join(lines) + "\r\n"


async def _main(args: argparse.Namespace) -> None:
    feeder = Feeder(named_trace(args.trace))
    farm = CalleeFarm(feeder, port=args.port)
    port = await farm.start()
    info: dict[str, Any] = {"sip_port": port}
    if args.register:
        host, _, p = args.proxy.partition(":")
        info["register"] = await farm.register(
            (host, int(p or 5060)), args.register, args.password, args.realm
        )
    print(json.dumps(info), flush=True)
    task = asyncio.create_task(feeder.run())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.seconds:
        loop.call_later(args.seconds, stop.set)
    await stop.wait()
    task.cancel()
    farm.close()
    s = farm.stats
    print(
        json.dumps(
            {
                "invites": s.invites,
                "established": s.established,
                "ended": s.ended,
                "rejected": s.rejected,
                "rx_packets": s.rx_packets,
                "sent": sum(c.dest.sent for c in farm.calls.values()),
                "send_errors": sum(c.dest.errors for c in farm.calls.values()),
                "feeder_late_max_ms": round(feeder.late_max * 1000, 1),
            }
        ),
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="SIP UDP port (0: any free one)")
    ap.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: never)")
    ap.add_argument("--register", default="", help="REGISTER this user first (Kamailio mode)")
    ap.add_argument("--password", default="")
    ap.add_argument("--realm", default="sip.test")
    ap.add_argument("--proxy", default="127.0.0.1:5060", help="registrar host:port")
    ap.add_argument("--uvloop", action="store_true")
    ap.add_argument(
        "--trace",
        choices=TRACES,
        default="recorded",
        help="the media every call sends: the recorded pcap, or the 1.5 Mbit/s HD stream",
    )
    args = ap.parse_args(argv)
    if args.uvloop:
        import uvloop

        uvloop.run(_main(args))
    else:
        asyncio.run(_main(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
