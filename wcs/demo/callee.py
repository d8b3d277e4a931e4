"""The demo callee's asyncio edge: its SIP socket, per-call RTP sockets and the media clock.

One test card encoder and one tone serve every demo call: each tick renders and encodes one
picture (15 per second) and packetizes it once; each call only adds its own RTP headers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from wcs import netaddr
from wcs.media.h264.packetizer import H264Packetizer
from wcs.sansio import Pump

from . import tone
from .answerer import CallEnded, CallStarted, CallUpdated, DemoAnswerer, MediaTarget
from .encoder import H264Encoder
from .rtp_out import RtpOut
from .testcard import TestCard

log = logging.getLogger(__name__)

Addr = tuple[str, int]


@dataclass(slots=True)
class _Track:
    target: Addr
    rtp: RtpOut


@dataclass(slots=True)
class _CallMedia:
    sockets: dict[str, socket.socket]
    tracks: dict[str, _Track] = field(default_factory=dict)
    started: float = 0.0

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()
        self.tracks.clear()


class _SipProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: DemoCallee) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.owner._on_datagram(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("demo callee SIP socket: %s", exc)


class DemoCallee:
    """A SIP endpoint on ``host:port`` (0: any free port) answering calls to ``demo``.

    Usage::

        demo = DemoCallee()
        await demo.start()          # demo.port is the bound port
        # INVITE sip:demo@127.0.0.1:<demo.port> -> 180, then 200 after ring_delay; RTP flows
        await demo.close()
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ring_delay: float = 1.0,
        fps: int = 15,
        width: int = 640,
        height: int = 360,
        max_duration: float = 3600.0,
        user: str = "demo",
        send_media: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.fps = fps
        self.width = width
        self.height = height
        self.send_media = send_media  # False: answer, then stay silent (bench/idle_wakeups)
        self.uas = DemoAnswerer(
            host, port, self._allocate, user=user, ring_delay=ring_delay, max_duration=max_duration
        )
        self._transport: asyncio.DatagramTransport | None = None
        self._calls: dict[str, _CallMedia] = {}
        self._pump: Pump[DemoAnswerer] | None = None
        self._video_tick: asyncio.TimerHandle | None = None
        self._audio_tick: asyncio.TimerHandle | None = None
        self._card: TestCard | None = None
        self._encoder: H264Encoder | None = None
        self._packetizer = H264Packetizer(mtu=1200)
        self._frame_index = 0
        self._tone_sample = 0
        # Counters for /metrics.
        self.calls_total = 0
        self.packets_sent = 0
        self.bytes_sent = 0
        self.send_errors = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _SipProtocol(self), local_addr=(self.host, self.port)
        )
        self._transport = transport
        self._pump = Pump(self.uas, self._transmit, self._on_event, loop)
        self.port = transport.get_extra_info("sockname")[1]
        self.uas.port = self.port
        log.info("demo callee: sip:%s@%s", self.uas.user, netaddr.hostport(self.host, self.port))

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.close()
        for handle in (self._video_tick, self._audio_tick):
            if handle is not None:
                handle.cancel()
        self._video_tick = self._audio_tick = None
        for media in self._calls.values():
            media.close()
        self._calls.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def active_calls(self) -> int:
        return len(self._calls)

    # ------------------------------------------------------------------ SIP plumbing
    def _allocate(self, key: str) -> Mapping[str, int]:
        if key in self._calls:
            self._calls.pop(key).close()
        sockets: dict[str, socket.socket] = {}
        try:
            for kind in ("audio", "video"):
                sock = socket.socket(netaddr.family(self.host), socket.SOCK_DGRAM)
                sockets[kind] = sock
                sock.setblocking(False)
                sock.bind((self.host, 0))
        except OSError:
            for sock in sockets.values():
                sock.close()
            raise
        self._calls[key] = _CallMedia(sockets)
        return {kind: s.getsockname()[1] for kind, s in sockets.items()}

    def _on_datagram(self, data: bytes, addr: Addr) -> None:
        if self._pump is None:
            return
        self.uas.receive(data, addr, self._pump.now())
        self._pump.wake()

    def _transmit(self, now: float) -> None:
        for data, addr in self.uas.datagrams_to_send(now):
            if self._transport is not None:
                self._transport.sendto(data, addr)

    def _on_event(self, event: object) -> None:
        if isinstance(event, CallStarted | CallUpdated):
            self._set_targets(event.key, event.targets, isinstance(event, CallStarted))
        elif isinstance(event, CallEnded):
            media = self._calls.pop(event.key, None)
            if media is not None:
                media.close()
                log.info("demo callee: call %s ended (%s)", event.key, event.reason)
        self._schedule_media()

    def _set_targets(self, key: str, targets: tuple[MediaTarget, ...], new: bool) -> None:
        media = self._calls.get(key)
        if media is None:
            return
        if new:
            self.calls_total += 1
            media.started = asyncio.get_running_loop().time()
            log.info("demo callee: call %s answered, sending %s", key, [t.kind for t in targets])
        old = media.tracks
        media.tracks = {}
        for t in targets:
            previous = old.get(t.kind)
            rate = 8000 if t.kind == "audio" else 90000
            if previous is not None and previous.rtp.payload_type == t.payload_type:
                media.tracks[t.kind] = _Track(t.address, previous.rtp)  # same numbering
            else:
                media.tracks[t.kind] = _Track(t.address, RtpOut(t.payload_type, rate))

    # ------------------------------------------------------------------ media clock
    def _wants(self, kind: str) -> bool:
        return self.send_media and any(kind in m.tracks for m in self._calls.values())

    def _schedule_media(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._video_tick is None and self._wants("video"):
            self._video_tick = loop.call_at(now, self._on_video_tick, now)
        if self._audio_tick is None and self._wants("audio"):
            # Start the tone on a wall-clock second so the beep matches the clock.
            self._tone_sample = int((time.time() % 1.0) * tone.SAMPLE_RATE)
            self._audio_tick = loop.call_at(now, self._on_audio_tick, now)

    def _on_video_tick(self, due: float) -> None:
        self._video_tick = None
        if not self._wants("video"):
            return
        loop = asyncio.get_running_loop()
        if self._encoder is None or self._card is None:
            self._card = TestCard(self.width, self.height)
            self._encoder = H264Encoder(self.width, self.height, self.fps)
        clock = time.strftime("%H:%M:%S")
        nals = self._encoder.encode(self._card.render(self._frame_index, clock))
        self._frame_index += 1
        if nals:
            payloads = self._packetizer.packetize(nals)
            now = loop.time()
            for media in self._calls.values():
                track = media.tracks.get("video")
                if track is not None:
                    ts = int((now - media.started) * 90000)
                    self._send(media.sockets["video"], track, track.rtp.packets(payloads, ts))
        nxt = _next_due(loop, due, 1.0 / self.fps)
        self._video_tick = loop.call_at(nxt, self._on_video_tick, nxt)

    def _on_audio_tick(self, due: float) -> None:
        self._audio_tick = None
        if not self._wants("audio"):
            return
        loop = asyncio.get_running_loop()
        frame = tone.frame_at(self._tone_sample)
        self._tone_sample += tone.FRAME_SAMPLES
        for media in self._calls.values():
            track = media.tracks.get("audio")
            if track is not None:
                ts = int((due - media.started) * tone.SAMPLE_RATE)
                ts -= ts % tone.FRAME_SAMPLES
                self._send(media.sockets["audio"], track, track.rtp.packets([frame], ts))
        nxt = _next_due(loop, due, tone.FRAME_SAMPLES / tone.SAMPLE_RATE)
        self._audio_tick = loop.call_at(nxt, self._on_audio_tick, nxt)

    def _send(self, sock: socket.socket, track: _Track, packets: list[bytes]) -> None:
        for packet in packets:
            try:
                sock.sendto(packet, track.target)
            except OSError:  # a full buffer or an unreachable port: drop, like the network
                self.send_errors += 1
                continue
            self.packets_sent += 1
            self.bytes_sent += len(packet)


def _next_due(loop: asyncio.AbstractEventLoop, due: float, period: float) -> float:
    """The next tick; after a stalled loop, one period from now: skip, do not burst."""
    nxt = due + period
    now = loop.time()
    return now + period if nxt < now else nxt
