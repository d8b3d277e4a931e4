"""The media side of one SIP call: RTP ports, SDP offer/answer, the media path into the stream.

The call owns one :class:`CallMedia`; closing it releases the ports, stops the media path and
unpublishes the stream, on every exit path.

The media path starts when the peer's SDP is known (the 200's answer, or early media in a
180/183): one :class:`wcs.rtp.session.RtpSession` per live m-line (sans-IO), fed here by
``loop.add_reader`` on the already bound sockets (each wake-up drains every queued datagram;
no per-packet task or coroutine), with one loop timer for every session's deadlines, the
stream generators and the RTP inactivity watch.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from wcs import netaddr, sdp
from wcs.app.stream_feed import StreamFeed
from wcs.app.streams import (
    Publication,
    PublisherControl,
    StreamExists,
    StreamHub,
    StreamStatus,
    TrackInfo,
)
from wcs.media.h264 import parse_sprop_parameter_sets, parse_sps
from wcs.rtp.activity import ActivityWatch
from wcs.rtp.keyframe import MEDIA_CONTROL_TYPE, PICTURE_FAST_UPDATE
from wcs.rtp.ports import MediaPorts, PortAllocator
from wcs.rtp.session import RtpSession

if TYPE_CHECKING:
    from wcs.app.calls import Call

log = logging.getLogger(__name__)

RTP_ACTIVITY_FAILED = "Failed by RTP activity"
DIRECT_RTMP_PREFIX = "sip_rtmp_"  # internal stream of a call with rtmpUrl but no toStream
_RECV_BATCH = 64  # datagrams drained per wake-up before yielding to the loop


class CallControl(Protocol):
    """What the media side may ask of the call manager."""

    def fail(self, call_id: str, info: str) -> bool: ...
    def terminate(self, call_id: str) -> bool: ...
    def send_info(self, call_id: str, content_type: str, body: bytes) -> bool: ...


@dataclass(frozen=True, slots=True)
class MediaConfig:
    init_packets: bool = True
    activity_timeout: float = 0.0
    jitter_latency: float | None = None  # seconds; None: no jitter buffer
    publish_early_media: bool = False
    generate_av: str = "none"
    send_silence: bool = True


class CallMedia:
    def __init__(
        self,
        call_id: str,
        ports: PortAllocator,
        public_ip: str,
        has_audio: bool,
        has_video: bool,
        *,
        hub: StreamHub | None = None,
        stream_name: str | None = None,
        app_key: str = "defaultApp",
        control: CallControl | None = None,
        config: MediaConfig | None = None,
    ) -> None:
        self.call_id = call_id
        self.public_ip = public_ip
        self.hub = hub
        self.stream_name = stream_name
        self.app_key = app_key
        self.control = control
        self.config = config or MediaConfig()
        if hub is not None and stream_name is not None and hub.get(stream_name) is not None:
            raise StreamExists(f"stream {stream_name!r} is already published")
        self.audio_ports: MediaPorts | None = None
        self.video_ports: MediaPorts | None = None
        # "::" sockets: IPv4 peers arrive as ::ffff:a.b.c.d and must be sent to that way
        self._dual_stack = ports.dual_stack
        try:
            if has_audio:
                self.audio_ports = ports.allocate_pair()
            if has_video:
                self.video_ports = ports.allocate_pair()
        except Exception:
            self.close("ports")
            raise
        self.session_id = secrets.randbits(31)
        self.version = 0
        self.local: sdp.SessionDescription | None = None
        self.remote: sdp.SessionDescription | None = None
        self.negotiated: list[sdp.NegotiatedMedia] = []
        self.closed = False
        self.hold = False
        self.cname = secrets.token_hex(8)
        self.sessions: dict[str, RtpSession] = {}
        self.stream: Publication | None = None  # ours while published
        self.feed: StreamFeed | None = None
        self.watch: ActivityWatch | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._readers: list[socket.socket] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._failed = False
        self._answered = False

    # ------------------------------------------------------------------ SDP
    def _build_offer(self) -> sdp.SessionDescription:
        return sdp.build_offer(
            self.public_ip,
            self.audio_ports.rtp_port if self.audio_ports else None,
            self.video_ports.rtp_port if self.video_ports else None,
            direction="sendrecv",
            session_id=self.session_id,
            session_version=self.version,
        )

    def offer(self) -> bytes:
        self.local = self._build_offer()
        return str(self.local).encode()

    def on_remote_sdp(self, body: bytes, final: bool) -> None:
        """An answer (or early-media SDP) to our offer: start or update the media path."""
        if self.local is None or self.closed:
            return
        try:
            remote = sdp.SessionDescription.parse(body.decode("utf-8", "replace"))
            self.negotiated = sdp.negotiate_answer(self.local, remote)
        except sdp.SdpError as exc:
            log.warning("call %s: unusable SDP answer: %s", self.call_id, exc)
            return
        self.remote = remote
        for m in self.negotiated:
            if not m.rejected and m.receive_codec is not None:
                log.info(
                    "call %s: %s %s/%d from %s:%d",
                    self.call_id,
                    m.kind,
                    m.receive_codec.name,
                    m.receive_codec.clock_rate,
                    *(m.remote_address or ("?", 0)),
                )
        self._start_media()
        if final and not self._answered:
            # The inactivity count starts with the answer: early media may legitimately be
            # silent (a ring-back the peer never sends).
            self._answered = True
            if self.watch is not None and not self.hold:
                self.watch.resume(self._now())
        if final or self.config.publish_early_media:
            self._publish()

    def answer_remote_offer(self, body: bytes | None) -> tuple[bytes | None, bool]:
        """Answer a re-INVITE/UPDATE offer; an offerless re-INVITE gets a fresh offer."""
        if self.local is None:
            return None, False
        self.version += 1
        if body is None:
            self.local = self._build_offer()
            return str(self.local).encode(), False
        try:
            offer = sdp.SessionDescription.parse(body.decode("utf-8", "replace"))
        except sdp.SdpError as exc:
            log.warning("call %s: unusable re-offer: %s", self.call_id, exc)
            return None, False
        # A running m-line keeps its codec: the stream's viewers, pushes and recordings were
        # set up for it. An offer without it gets 488 and the session stays as it was
        # (RFC 3261 14.2).
        caps: dict[str, list[sdp.Codec]] = {}
        for m in self.local.media:
            session = self.sessions.get(m.kind)
            if session is None:
                caps[m.kind] = list(m.codecs)
            else:
                caps[m.kind] = [session.codec] + [
                    c for c in m.codecs if c.name.lower() == "telephone-event"
                ]
        ports = {}
        if self.audio_ports:
            ports["audio"] = self.audio_ports.rtp_port
        if self.video_ports:
            ports["video"] = self.video_ports.rtp_port
        try:
            answer = sdp.answer_offer(offer, caps, self.public_ip, ports, previous=self.local)
            negotiated = sdp.negotiate_answer(answer, offer)
        except sdp.SdpError as exc:
            log.warning("call %s: cannot answer re-offer: %s", self.call_id, exc)
            return None, False
        for offered, answered in zip(offer.media, answer.media, strict=True):
            if offered.kind in self.sessions and not offered.rejected and answered.rejected:
                log.warning(
                    "call %s: re-offer without the running %s codec %s: 488",
                    self.call_id,
                    offered.kind,
                    self.sessions[offered.kind].codec.name,
                )
                return None, False
        live = [m for m in offer.media if not m.rejected]
        hold = bool(live) and all(
            sdp.is_hold(m, offer) or sdp.direction_of(m, offer) in ("sendonly", "inactive")
            for m in live
        )
        self.remote = offer
        self.local = answer
        self.negotiated = negotiated
        for nm in negotiated:
            session = self.sessions.get(nm.kind)
            if session is None:
                continue
            if nm.rejected or nm.receive_codec is None:
                # The peer turned this m-line off: the track stays and waits (the stream keeps
                # its shape for its viewers); we stop sending there.
                log.info("call %s: the peer turned %s off", self.call_id, nm.kind)
                session.sending = False
                continue
            session.update(nm)  # new address, payload type numbers, direction
        self._set_hold(hold, offer)
        return str(answer).encode(), hold

    def _set_hold(self, hold: bool, offer: sdp.SessionDescription) -> None:
        """On hold the peer stops sending on purpose: the inactivity watch is suspended, and
        we stop sending where the peer does not want to receive."""
        if hold != self.hold:
            log.info("call %s: media %s", self.call_id, "on hold" if hold else "resumed")
        self.hold = hold
        now = self._now()
        if self.watch is not None and self._answered:
            if hold:
                self.watch.suspend()
            else:
                self.watch.resume(now)
        for m in offer.media:
            s = self.sessions.get(m.kind)
            if s is not None and not m.rejected:
                s.sending = sdp.direction_of(m, offer) in ("sendrecv", "recvonly") and not (
                    sdp.is_hold(m, offer)
                )
        self._schedule()

    # ------------------------------------------------------------------ media path
    def _now(self) -> float:
        return self._loop.time() if self._loop is not None else 0.0

    def _start_media(self) -> None:
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (SDP-only use): negotiate, move no media
                return
        now = self._now()
        cfg = self.config
        if self.feed is None:
            self.feed = StreamFeed(now, cfg.generate_av, secrets.randbits(32))
            self.watch = ActivityWatch(cfg.activity_timeout, now)
            self.watch.suspend()  # until the final answer (on_remote_sdp)
        for m in self.negotiated:
            if m.rejected or m.receive_codec is None:
                continue
            ports = self.audio_ports if m.kind == "audio" else self.video_ports
            if ports is None:
                continue
            session = self.sessions.get(m.kind)
            if session is not None:
                session.update(m)
                continue
            session = RtpSession(
                m,
                self.feed,
                local_ssrc=secrets.randbits(32),
                cname=self.cname,
                jitter_latency=cfg.jitter_latency,
                init_packets=cfg.init_packets,
                send_silence=cfg.send_silence,
                on_info=self._send_keyframe_info,
            )
            self.sessions[m.kind] = session
            self._add_reader(ports.rtp_socket, session, rtcp=False)
            if ports.rtcp_socket is not None:
                self._add_reader(ports.rtcp_socket, session, rtcp=True)
            session.start(now)
            self._flush(session, ports)
        self._schedule()

    def _add_reader(self, sock: socket.socket, session: RtpSession, rtcp: bool) -> None:
        assert self._loop is not None
        handler = session.receive_rtcp if rtcp else session.receive_rtp
        ports = self.audio_ports if session.kind == "audio" else self.video_ports
        assert ports is not None
        loop = self._loop
        watch = self.watch
        recv = sock.recvfrom
        unmap = netaddr.unmap if self._dual_stack else None

        def readable() -> None:
            now = loop.time()
            for _ in range(_RECV_BATCH):
                try:
                    data, addr = recv(2048)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:  # e.g. ICMP port unreachable reported on the socket
                    log.debug("call %s: %s socket: %s", self.call_id, session.kind, exc)
                    continue
                if unmap is not None:
                    addr = (unmap(addr[0]), addr[1])
                handler(data, addr[:2], now)
                if not rtcp and watch is not None:
                    watch.last = now
            self._flush(session, ports)
            if session.jitter is not None or session.depacketizer is not None:
                self._schedule()

        loop.add_reader(sock.fileno(), readable)
        self._readers.append(sock)

    def _flush(self, session: RtpSession, ports: MediaPorts) -> None:
        if session.rtp_out:
            out, session.rtp_out = session.rtp_out, []
            self._send(ports.rtp_socket, out)
        if session.rtcp_out:
            out, session.rtcp_out = session.rtcp_out, []
            self._send(ports.rtcp_socket or ports.rtp_socket, out)

    def _send(self, sock: socket.socket, out: list[tuple[bytes, tuple[str, int]]]) -> None:
        dual = self._dual_stack
        for data, addr in out:
            try:
                sock.sendto(data, (netaddr.for_socket(addr[0], True), addr[1]) if dual else addr)
            except OSError as exc:  # full buffer or unreachable: a lost datagram, not an error
                log.debug("call %s: send to %s:%d failed: %s", self.call_id, *addr, exc)

    def _schedule(self) -> None:
        """Arm the one loop timer for the earliest deadline of sessions, feed and watch."""
        if self._loop is None or self.closed:
            return
        deadlines = [s.next_timer() for s in self.sessions.values()]
        if self.feed is not None:
            deadlines.append(self.feed.next_timer())
        if self.watch is not None:
            deadlines.append(self.watch.deadline())
        when = min((d for d in deadlines if d is not None), default=None)
        if when is None:
            return
        if self._timer is not None and self._timer_at is not None and self._timer_at <= when:
            return  # the armed timer comes first; it re-arms
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(max(when, self._loop.time()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self.closed:
            return
        now = self._now()
        for kind, session in self.sessions.items():
            session.handle_timer(now)
            ports = self.audio_ports if kind == "audio" else self.video_ports
            if ports is not None:
                self._flush(session, ports)
        if self.feed is not None:
            self.feed.handle_timer(now)
        if self.watch is not None and self.watch.expired(now) and not self._failed:
            self._failed = True
            log.warning(
                "call %s: no RTP for %.1f s: failing the call",
                self.call_id,
                now - self.watch.last,
            )
            if self.control is not None:
                self.control.fail(self.call_id, RTP_ACTIVITY_FAILED)
            return
        self._schedule()

    def _send_keyframe_info(self) -> None:
        if self.control is not None:
            self.control.send_info(self.call_id, MEDIA_CONTROL_TYPE, PICTURE_FAST_UPDATE)

    def request_keyframe(self) -> None:
        session = self.sessions.get("video")
        if session is None or self.video_ports is None:
            return
        session.request_keyframe(self._now())
        self._flush(session, self.video_ports)

    # ------------------------------------------------------------------ stream
    def _tracks(self) -> dict[str, TrackInfo]:
        tracks: dict[str, TrackInfo] = {}
        for m in self.negotiated:
            c = m.receive_codec
            if m.rejected or c is None or m.kind not in self.sessions:
                continue
            track = TrackInfo(m.kind, c.name, c.clock_rate, c.channels or 1, c.fmtp, c.payload_type)
            if m.kind == "video":
                for item in (c.parameters.get("sprop-parameter-sets") or "").split(","):
                    try:
                        nals = parse_sprop_parameter_sets(item)
                    except ValueError:
                        continue
                    for nal in nals:
                        if nal and nal[0] & 0x1F == 7:
                            track.sps = nal
                        elif nal and nal[0] & 0x1F == 8:
                            track.pps = nal
                if track.sps is not None:
                    try:
                        info = parse_sps(track.sps)
                        track.width, track.height = info.width, info.height
                    except ValueError:
                        pass
            tracks[m.kind] = track
        if self.feed is not None:
            tracks.update(self.feed.generated_tracks(set(tracks)))
        return tracks

    def _publish(self) -> None:
        if self.stream is not None or self.hub is None or not self.stream_name or not self.sessions:
            return
        tracks = self._tracks()
        try:
            control = PublisherControl(self.stats, self.request_keyframe, self._terminator())
            publication = self.hub.publish(
                self.stream_name,
                call_id=self.call_id,
                app_key=self.app_key,
                tracks=tracks,
                control=control,
            )
        except StreamExists as exc:
            log.warning("call %s: %s", self.call_id, exc)
            return
        self.stream = publication
        assert self.feed is not None
        self.feed.stream = publication
        self._schedule()

    def _terminator(self) -> Callable[[], None] | None:
        """What /stream/terminate does to our stream: hang the call up."""
        if self.control is None:
            return None
        control, call_id = self.control, self.call_id

        def terminate() -> None:
            control.terminate(call_id)

        return terminate

    def stats(self) -> dict[str, dict[str, object]]:
        now = self._now()
        return {kind: s.snapshot(now) for kind, s in self.sessions.items()}

    # ------------------------------------------------------------------ close
    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for kind, session in self.sessions.items():
            session.stop()
            ports = self.audio_ports if kind == "audio" else self.video_ports
            if ports is not None:
                self._flush(session, ports)
        if self._loop is not None:
            for sock in self._readers:
                self._loop.remove_reader(sock.fileno())
        self._readers = []
        if self.feed is not None:
            self.feed.stream = None
        if self.stream is not None:
            failed = reason == RTP_ACTIVITY_FAILED
            status = StreamStatus.FAILED if failed else StreamStatus.UNPUBLISHED
            self.stream.unpublish(reason, status)
            self.stream = None
        for ports in (self.audio_ports, self.video_ports):
            if ports is not None:
                ports.release()


class CallMediaFactory:
    def __init__(
        self,
        ports: PortAllocator,
        public_ip: str,
        hub: StreamHub | None = None,
        config: MediaConfig | None = None,
        control: CallControl | None = None,
    ) -> None:
        self.ports = ports
        self.public_ip = public_ip
        self.hub = hub
        self.config = config or MediaConfig()
        self.control = control  # set after the CallManager exists (it needs this factory)
        self.created: Callable[[CallMedia], None] | None = None  # test/diagnostic hook

    def __call__(self, call: Call) -> CallMedia:
        r = call.request
        media = CallMedia(
            r.call_id,
            self.ports,
            self.public_ip,
            r.has_audio,
            r.has_video,
            hub=self.hub,
            # Direct SIP-as-RTMP without toStream still needs a stream to push from.
            stream_name=r.to_stream or (f"{DIRECT_RTMP_PREFIX}{r.call_id}" if r.rtmp_url else None),
            app_key=r.app_key,
            control=self.control,
            config=self.config,
        )
        if self.created is not None:
            self.created(media)
        return media
