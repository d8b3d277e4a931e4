"""The socket edge of a call's media: bound RTP/RTCP sockets around one :class:`CallMediaCore`.

Created with its event loop. Each live m-line's sockets are read by ``loop.add_reader``
(each wake-up drains a batch of queued datagrams; no per-packet task or coroutine), then one
:class:`wcs.sansio.Pump` sends what the core wants to send, hands its events to the call
manager and re-arms the one loop timer for the core's next deadline. SRTP is applied here,
between the socket and the core (``core.protection``): the core sees and produces plain RTP.

The call owns one :class:`CallMedia`; closing it releases the ports, stops the media path and
unpublishes the stream, on every exit path — including a failure while setting it up.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from wcs import netaddr
from wcs.app.media.config import CallControl, MediaConfig
from wcs.app.media.core import CallMediaCore
from wcs.app.media.dtls_srtp import DtlsSrtp, is_dtls
from wcs.app.media.events import MediaFailed, SendInfo
from wcs.app.media.outlet import HubOutlet
from wcs.app.media.sdes import SdesKeying
from wcs.app.streams import PublisherControl, StreamHub
from wcs.media.dtmf import DtmfKey
from wcs.media.h264.nal import AccessUnit
from wcs.media.sound import SoundClip
from wcs.rtp.outgoing_audio import AudioFormat, PcmSource
from wcs.rtp.ports import MediaPorts, PortAllocator
from wcs.rtp.session import RtpSession
from wcs.sansio import Pump

log = logging.getLogger(__name__)

_RECV_BATCH = 64  # datagrams drained per wake-up before yielding to the loop


class CallMedia:
    def __init__(
        self,
        call_id: str,
        ports: PortAllocator,
        public_ip: str,
        has_audio: bool,
        has_video: bool,
        *,
        loop: asyncio.AbstractEventLoop,
        hub: StreamHub | None = None,
        stream_name: str | None = None,
        app_key: str = "defaultApp",
        control: CallControl | None = None,
        config: MediaConfig | None = None,
        keying: SdesKeying | None = None,
        dtls: DtlsSrtp | None = None,
        name_in_use: bool = False,  # the name is another call's until publish_now()
    ) -> None:
        self.closed = False
        self.call_id = call_id
        self.control = control
        self._loop = loop
        self._readers: list[socket.socket] = []
        outlet = None
        if hub is not None and stream_name is not None:
            terminate = self._terminate if control is not None else None
            asks = PublisherControl(self.stats, self.request_keyframe, terminate)
            outlet = HubOutlet(hub, stream_name, asks, call_id=call_id, app_key=app_key)
            outlet.takes_over = name_in_use
            if not name_in_use:
                outlet.ensure_free()
        kinds = [k for k, wanted in (("audio", has_audio), ("video", has_video)) if wanted]
        # Undoes itself: a failure (ports exhausted) releases what it already took.
        self.ports: dict[str, MediaPorts] = dict(
            zip(kinds, ports.allocate_pairs(len(kinds)), strict=True)
        )
        # "::" sockets: IPv4 peers arrive as ::ffff:a.b.c.d and must be sent to that way
        self._dual_stack = ports.dual_stack
        try:
            self.core = CallMediaCore(
                call_id,
                public_ip,
                ports={k: p.rtp_port for k, p in self.ports.items()},
                config=config,
                outlet=outlet,
                keying=keying,
                dtls=dtls,
            )
            self.pump = Pump(self.core, self._transmit, self._on_event, loop)
        except BaseException:
            self._release()
            raise

    # ------------------------------------------------------------------ what the call sees
    @property
    def audio_ports(self) -> MediaPorts | None:
        return self.ports.get("audio")

    @property
    def video_ports(self) -> MediaPorts | None:
        return self.ports.get("video")

    @property
    def sessions(self) -> dict[str, RtpSession]:
        return self.core.sessions

    def offer(self) -> bytes:
        return self.core.offer()

    def on_remote_sdp(self, body: bytes, final: bool) -> None:
        if self.closed:
            return
        self.core.on_remote_sdp(body, final, self.pump.now())
        self._sessions_changed()

    def answer_first_offer(self, body: bytes) -> bytes | None:
        return self.core.answer_first_offer(body)

    def start_answered(self) -> None:
        self.core.start_answered(self.pump.now())
        self._sessions_changed()

    def publish_now(self) -> None:
        self.core.publish_now()
        self.pump.wake()

    def hold_stream(self, held: bool) -> None:
        """An incoming call's stream waits (True) for its PIN, or is published now (False)."""
        self.core.set_stream_held(held)
        self.pump.wake()

    def rename_stream(self, name: str) -> bool:
        """Publish as ``name`` instead (an incoming call's hook chose it); False once published."""
        outlet = self.core.outlet
        if not isinstance(outlet, HubOutlet) or outlet.published:
            return False
        outlet.name = name
        return True

    def _sessions_changed(self) -> None:
        for kind in self.core.sessions:
            self._add_readers(kind)
        self.pump.wake()

    def answer_remote_offer(self, body: bytes | None) -> tuple[bytes | None, bool]:
        result = self.core.answer_remote_offer(body, self.pump.now())
        self.pump.wake()
        return result

    def send_dtmf(self, digits: str, tone_ms: int | None = None) -> None:
        self.core.send_dtmf(digits, tone_ms)
        self.pump.wake()

    def play_sound(self, clip: SoundClip, loop: bool) -> None:
        self.core.play_sound(clip, loop)
        self.pump.wake()

    def stop_sound(self) -> bool:
        stopped = self.core.stop_sound()
        self.pump.wake()
        return stopped

    def audio_format(self) -> AudioFormat:
        return self.core.audio_format()

    def inject_audio(self, source: PcmSource | None) -> PcmSource | None:
        old = self.core.inject_audio(source)
        self.pump.wake()  # the outgoing audio's timer may start now
        return old

    def inject_video(
        self, codec: str, fmtp: str | None, on_keyframe_wanted: Callable[[], None]
    ) -> bool:
        return self.core.inject_video(codec, fmtp, on_keyframe_wanted)

    def stop_video(self) -> None:
        self.core.stop_video()

    def forward_video(self, data: bytes | AccessUnit) -> None:
        """An injected stream's video packet or H.264 access unit: out at once (no timer)."""
        if not self.closed and self.core.forward_video(data):
            self._transmit(self.pump.now())

    def hold_offer(self, hold: bool) -> bytes | None:
        offer = self.core.hold_offer(hold, self.pump.now())
        self.pump.wake()
        return offer

    def request_keyframe(self) -> None:
        self.core.request_keyframe(self.pump.now())
        self.pump.wake()

    @property
    def srtp_profile(self) -> str | None:
        """The SRTP suite protecting the media, None for plain RTP (never a key)."""
        return self.core.protection.profile

    def stats(self) -> dict[str, dict[str, object]]:
        return self.core.stats(self.pump.now())

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        now = self.pump.now()
        self.core.close(reason)
        self._transmit(now)  # the sessions' RTCP BYE
        self.pump.close()
        for sock in self._readers:
            self._loop.remove_reader(sock.fileno())
        self._readers = []
        self._release()

    def _release(self) -> None:
        for ports in self.ports.values():
            ports.release()

    # ------------------------------------------------------------------ sockets
    def _add_readers(self, kind: str) -> None:
        ports = self.ports[kind]
        if ports.rtp_socket in self._readers:
            return
        self._add_reader(ports.rtp_socket, kind, rtcp=False)
        if ports.rtcp_socket is not None:
            self._add_reader(ports.rtcp_socket, kind, rtcp=True)

    def _add_reader(self, sock: socket.socket, kind: str, rtcp: bool) -> None:
        handler = self.core.receive_rtcp if rtcp else self.core.receive_rtp
        loop = self._loop
        wake = self.pump.wake
        recv = sock.recvfrom
        unmap = netaddr.unmap if self._dual_stack else None
        call_id = self.call_id
        protection = self.core.protection
        dtls = self.core.receive_dtls

        def readable() -> None:
            now = loop.time()
            for _ in range(_RECV_BATCH):
                try:
                    data, addr = recv(2048)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:  # e.g. ICMP port unreachable reported on the socket
                    log.debug("call %s: %s socket: %s", call_id, kind, exc)
                    continue
                if unmap is not None:
                    addr = (unmap(addr[0]), addr[1])
                if protection.active:
                    if is_dtls(data):
                        dtls(kind, rtcp, data, now)
                        continue
                    plain = protection.unprotect(kind, data, rtcp)
                    if plain is None:
                        continue  # failed authentication: counted, dropped
                    data = plain
                handler(kind, data, addr[:2], now)
            wake()

        loop.add_reader(sock.fileno(), readable)
        self._readers.append(sock)

    def _transmit(self, now: float) -> None:
        dual = self._dual_stack
        protection = self.core.protection
        for data, route in self.core.datagrams_to_send(now):
            if protection.active and not route.raw:
                secured = protection.protect(route.kind, data, route.rtcp_port)
                if secured is None:
                    continue
                data = secured
            ports = self.ports[route.kind]
            sock = (ports.rtcp_socket or ports.rtp_socket) if route.rtcp_port else ports.rtp_socket
            addr = route.address
            try:
                sock.sendto(data, (netaddr.for_socket(addr[0], True), addr[1]) if dual else addr)
            except OSError as exc:  # full buffer or unreachable: a lost datagram, not an error
                log.debug("call %s: send to %s:%d failed: %s", self.call_id, *addr, exc)

    # ------------------------------------------------------------------ events
    def _on_event(self, event: object) -> None:
        control = self.control
        if control is None:
            return
        if isinstance(event, SendInfo):
            control.send_info(self.call_id, event.content_type, event.body)
        elif isinstance(event, MediaFailed):
            control.fail(self.call_id, event.info)
        elif isinstance(event, DtmfKey):
            control.dtmf_received(self.call_id, event)
        else:
            log.info("call %s: %s", self.call_id, event)  # a key or a sound of ours ended

    def _terminate(self) -> None:
        if self.control is not None:
            self.control.terminate(self.call_id)
