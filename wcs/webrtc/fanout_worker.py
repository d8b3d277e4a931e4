"""A media worker process: ``python -m wcs.webrtc.fanout_worker CONTROL_FD MEDIA_FD CONFIG``.

Started by :class:`wcs.webrtc.fanout.WorkerPool` (setting ``webrtc_workers``). It owns its
share of the viewers' ICE/DTLS/SRTP/RTCP with the product's own :class:`ViewerPeer`, and
does the per-viewer send: each source packet arrives once on the media socket and goes to
every live viewer of its stream here. It exits when the control channel ends (the main
process closed it or died) and on SIGTERM; SIGINT is the main process's to handle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any

from wcs.event_loop import choose_event_loop
from wcs.observability import metrics

from . import events
from . import fanout_wire as wire
from .certificate import Certificate
from .offer import OfferError
from .peer import ViewerPeer
from .transport import PeerSettings

log = logging.getLogger(__name__)

STATS_INTERVAL = 1.0
STATS_PER_FRAME = 200  # viewers per WorkerStats frame (~0.5 KB each)
RECV_BATCH = 256  # datagrams taken per readable callback before other work gets a turn
RECV_SIZE = 65536 + wire.MEDIA_HEADER.size


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What a worker needs from the settings (no secrets: it makes its own certificate)."""

    bind_ip: str = "0.0.0.0"
    public_ip: str = ""
    port_from: int = 0
    port_to: int = 0
    ice_timeout: float = 30.0
    consent_timeout: float = 30.0
    log_level: str = "INFO"
    event_loop: str = "auto"
    index: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {f: getattr(self, f) for f in self.__dataclass_fields__}, separators=(",", ":")
        )

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        return cls(**json.loads(text))

    @classmethod
    def of(cls, peers: PeerSettings, log_level: str, event_loop: str) -> WorkerConfig:
        """The parent's peer settings, less the certificate (a worker makes its own)."""
        low, high = peers.port_range or (0, 0)
        return cls(
            peers.bind_ip,
            peers.public_ip,
            low,
            high,
            peers.ice_timeout,
            peers.consent_timeout,
            log_level,
            event_loop,
        )

    def peer_settings(self, certificate: Certificate) -> PeerSettings:
        ports = (self.port_from, self.port_to) if self.port_to else None
        return PeerSettings(
            certificate,
            self.bind_ip,
            self.public_ip,
            ports,
            self.ice_timeout,
            self.consent_timeout,
        )


class Worker:
    def __init__(self, config: WorkerConfig, control: socket.socket, media: socket.socket):
        self.config = config
        self.control = control
        self.media = media
        self.peer_settings = config.peer_settings(Certificate.generate())
        self.peers: dict[int, ViewerPeer] = {}
        self.stream_of: dict[int, int] = {}  # viewer id -> stream key
        # Live viewers per stream key, copy-on-write like Stream's sink list.
        self.live: dict[int, list[ViewerPeer]] = {}
        self.bad_media = 0
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._counted = (0.0, 0.0)
        self._cancelled: set[int] = set()  # viewer ids closed before they were made

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        self.media.setblocking(False)
        loop.add_reader(self.media.fileno(), self._on_media)
        reader, self._writer = await asyncio.open_connection(sock=self.control)
        reading = asyncio.create_task(self._read_control(reader))
        stats = asyncio.create_task(self._stats_loop())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait((reading, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            loop.remove_reader(self.media.fileno())
            for task in (reading, stats, stopping):
                task.cancel()
            peers = list(self.peers.values())
            self.peers.clear()
            self.live.clear()
            for peer in peers:
                peer.on_state = None
            await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
            self._writer.close()
            self.media.close()

    # --- media (the hot path) -----------------------------------------------------------

    def _on_media(self) -> None:
        recv = self.media.recv
        live = self.live
        names = wire.KIND_NAMES
        for _ in range(RECV_BATCH):
            try:
                data = recv(RECV_SIZE)
            except BlockingIOError:
                return
            except OSError:
                return
            if not data:
                return
            try:
                stream, viewer, kind, packet = wire.parse_media(data)
            except wire.WireError:
                self.bad_media += 1
                continue
            if viewer == 0:
                name = names[kind]
                for peer in live.get(stream, ()):
                    peer.send_rtp(name, packet)
            elif kind == wire.KIND_START:
                self._start_live(viewer)
            else:
                target = self.peers.get(viewer)
                if target is not None:
                    target.send_rtp(names[kind], packet)

    def _start_live(self, viewer: int) -> None:
        peer = self.peers.get(viewer)
        stream = self.stream_of.get(viewer)
        if peer is None or stream is None:
            return
        current = self.live.get(stream, [])
        if peer not in current:
            self.live[stream] = [*current, peer]

    def _forget(self, viewer: int) -> ViewerPeer | None:
        peer = self.peers.pop(viewer, None)
        stream = self.stream_of.pop(viewer, None)
        if peer is not None and stream is not None:
            rest = [p for p in self.live.get(stream, ()) if p is not peer]
            if rest:
                self.live[stream] = rest
            else:
                self.live.pop(stream, None)
        return peer

    # --- control ------------------------------------------------------------------------

    def _send(self, message: wire.Message) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(wire.encode(message))

    async def _read_control(self, reader: asyncio.StreamReader) -> None:
        decoder = wire.FrameDecoder()
        while True:
            data = await reader.read(65536)
            if not data:
                return  # the main process closed the channel or died: we end
            try:
                messages = decoder.feed(data)
            except wire.WireError as exc:
                log.error("worker %d: bad control data (%s); exiting", self.config.index, exc)
                return
            for message in messages:
                if isinstance(message, wire.CreateViewer):
                    self._spawn(self._create(message))
                elif isinstance(message, wire.CloseViewer):
                    peer = self._forget(message.viewer)
                    if peer is not None:
                        peer.on_state = None  # the main process has already ended it
                        self._spawn(peer.close())
                    else:  # closed before its CreateViewer task ran (or already gone)
                        if len(self._cancelled) > 4096:  # ids of viewers long gone
                            self._cancelled.clear()
                        self._cancelled.add(message.viewer)
                elif isinstance(message, wire.StartLive):
                    self._start_live(message.viewer)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _create(self, msg: wire.CreateViewer) -> None:
        c = self.config
        if msg.viewer in self._cancelled:
            self._cancelled.discard(msg.viewer)
            return
        try:
            tracks = wire.tracks_from_wire(msg.tracks)
            peer = ViewerPeer(msg.offer, tracks, self.peer_settings)
        except (OfferError, wire.WireError) as exc:
            self._send(wire.ViewerRefused(msg.viewer, str(exc), 400))
            return
        except Exception:  # a bug must not leave the main process waiting for an answer
            log.exception("worker %d: cannot make viewer %d", c.index, msg.viewer)
            self._send(wire.ViewerRefused(msg.viewer, "Failed by error", 500))
            return
        viewer = msg.viewer
        peer.on_state = lambda e: self._on_state(viewer, e)
        peer.on_keyframe_request = lambda: self._send(wire.KeyframeRequest(viewer))
        self.peers[viewer] = peer
        self.stream_of[viewer] = msg.stream
        try:
            answer = await peer.start()
        except OSError:
            self._forget(viewer)
            self._send(wire.ViewerRefused(viewer, events.ICE_ERROR, 503))
            await peer.close()
            return
        if self.peers.get(viewer) is not peer:  # closed while binding
            await peer.close()
            return
        self._send(wire.ViewerAnswer(viewer, answer, list(peer.senders)))

    def _on_state(self, viewer: int, event: events.PeerStateChanged) -> None:
        if event.state == events.CONNECTING:
            return  # the main process knows: it has the answer
        self._send(wire.PeerState(viewer, event.state, event.info))
        if event.state in (events.CLOSED, events.FAILED):
            peer = self._forget(viewer)
            if peer is not None:
                self._spawn(peer.close())

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            dtls = metrics.DTLS_FAILURES.value
            srtp = metrics.SRTP_FAILURES.value
            items = [(str(v), p.stats()) for v, p in self.peers.items()]
            # In slices: a frame stays far below MAX_FRAME however many viewers there are.
            for i in range(0, max(len(items), 1), STATS_PER_FRAME):
                self._send(
                    wire.WorkerStats(
                        dict(items[i : i + STATS_PER_FRAME]),
                        bad_media=self.bad_media,
                        dtls_failures=int(dtls - self._counted[0]) if i == 0 else 0,
                        srtp_failures=int(srtp - self._counted[1]) if i == 0 else 0,
                    )
                )
            self._counted = (dtls, srtp)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m wcs.webrtc.fanout_worker CONTROL_FD MEDIA_FD CONFIG_JSON")
        return 2
    config = WorkerConfig.from_json(args[2])
    logging.basicConfig(
        level=config.log_level.upper(),
        format=f"%(asctime)s %(levelname)s worker{config.index} %(name)s: %(message)s",
    )
    # Ctrl-C in a terminal reaches the whole process group: the main process stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = socket.socket(fileno=int(args[0]))
    media = socket.socket(fileno=int(args[1]))
    choose_event_loop(config.event_loop)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(Worker(config, control, media).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
