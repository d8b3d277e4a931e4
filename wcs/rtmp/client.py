"""The asyncio edge of the RTMP publisher: a socket around :class:`RtmpClientConnection`.

Usage::

    pub = RtmpPublisher("rtmp://host/live", "rtmp_call1", on_failure=print)
    await pub.connect()                    # returns once NetStream.Publish.Start arrived
    pub.send_metadata(flv.metadata(width=352, height=288, framerate=15))
    pub.send_video_config(sps, pps); pub.send_audio_config(asc)
    pub.send_video(ts_ms, avcc_payload, keyframe=True); pub.send_audio(ts_ms, aac_frame)
    await pub.close()

Writes never block: they go to the transport's buffer, and :class:`BackPressureGate`
drops media when that buffer grows past its limit (counted in :attr:`dropped`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from typing import Any

from wcs.sansio import Pump

from . import events as ev
from . import flv
from .backpressure import BackPressureGate, DropCounters
from .connection import DEFAULT_FLASH_VERSION, RtmpClientConnection
from .errors import RtmpError
from .muxer import FlvTag
from .url import RtmpTarget, parse_base_url, parse_full_url

log = logging.getLogger(__name__)


class RtmpPublishError(RtmpError):
    """Publishing could not start or stopped; :attr:`failure` holds the server's reason."""

    def __init__(self, failure: ev.Failed) -> None:
        text = f"RTMP {failure.stage} failed"
        if failure.code:
            text += f": {failure.code}"
        if failure.description:
            text += f" ({failure.description})"
        super().__init__(text)
        self.failure = failure


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: RtmpPublisher) -> None:
        self.owner = owner

    def data_received(self, data: bytes) -> None:
        self.owner._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._on_lost(exc)


class RtmpPublisher:
    def __init__(
        self,
        url: str | RtmpTarget,
        stream_name: str | None = None,
        flash_version: str = DEFAULT_FLASH_VERSION,
        *,
        on_failure: Callable[[ev.Failed], None] | None = None,
        connect_timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        buffer_limit: int = 1_000_000,
    ) -> None:
        """``url`` with ``stream_name``: the URL names the application and the stream is
        published as ``stream_name``. Without ``stream_name`` the URL's last segment is
        the stream (see ``url.push_target`` for the WCS ``/push/startup`` rules)."""
        if isinstance(url, RtmpTarget):
            self.target = url
        elif stream_name is None:
            self.target = parse_full_url(url)
        else:
            scheme, host, port, app = parse_base_url(url)
            self.target = RtmpTarget(scheme, host, port, app, stream_name)
        self.conn = RtmpClientConnection(self.target, flash_version)
        self.on_failure = on_failure
        self.connect_timeout = connect_timeout
        self.gate = BackPressureGate(limit=buffer_limit, hard_limit=4 * buffer_limit)
        self.statuses: list[ev.StatusReceived] = []
        self._ssl = ssl_context
        self._transport: asyncio.Transport | None = None
        self._started: asyncio.Future[None] | None = None
        self._lost: asyncio.Future[None] | None = None
        self._pump: Pump[RtmpClientConnection] | None = None
        self._failure_reported = False

    # -- state -----------------------------------------------------------------------------

    @property
    def publishing(self) -> bool:
        return self.conn.publishing and self._transport is not None

    @property
    def failure(self) -> ev.Failed | None:
        return self.conn.failure

    @property
    def dropped(self) -> DropCounters:
        return self.gate.dropped

    def buffered(self) -> int:
        t = self._transport
        return t.get_write_buffer_size() if t is not None else 0

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect, handshake, connect/createStream/publish. Raises
        :class:`RtmpPublishError` with the server's reason when it refuses; ``on_failure``
        is only called for failures after this returned (the server drops the stream or
        the connection breaks while publishing)."""
        loop = asyncio.get_running_loop()
        self._started = loop.create_future()
        self._lost = loop.create_future()
        ssl_ctx: ssl.SSLContext | None = None
        if self.target.tls:
            ssl_ctx = self._ssl or ssl.create_default_context()
        try:
            async with asyncio.timeout(self.connect_timeout):
                transport, _ = await loop.create_connection(
                    lambda: _Protocol(self),
                    self.target.host,
                    self.target.port,
                    ssl=ssl_ctx,
                    server_hostname=self.target.host if ssl_ctx else None,
                )
                # No isinstance check: uvloop's transports are not asyncio.Transport subclasses.
                self._transport = transport
                self._pump = Pump(self.conn, self._write, self._on_event, loop)
                self.conn.initiate(self._pump.now())
                self._flush()
                await self._started
        except (OSError, TimeoutError) as exc:  # refused, reset, TLS errors, timeout
            self._abort()
            if isinstance(exc, TimeoutError):
                reason = f"no answer within {self.connect_timeout} s"
            else:
                reason = f"{type(exc).__name__}: {exc}"
            self.conn.connection_lost(reason)  # the stage comes from where it got stuck
            self._failure_reported = True  # connect() raises: no callback as well
            failure = self.conn.failure
            assert failure is not None
            raise RtmpPublishError(failure) from exc
        except RtmpPublishError:
            self._abort()
            raise

    async def close(self, timeout: float = 2.0) -> None:
        """Unpublish politely (FCUnpublish, deleteStream), half-close, and wait for the
        server to close its side, so neither end resets the connection."""
        transport = self._transport
        if transport is None:
            return
        self.conn.close()
        self._flush()
        if transport.can_write_eof():
            transport.write_eof()  # the server answers EOF by closing: no RST either way
        else:
            transport.close()  # TLS: close_notify, then the socket
        if self._lost is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._lost)
        if self._lost is None or not self._lost.done():
            transport.abort()
        self._transport = None

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
            self._transport = None

    # -- media -----------------------------------------------------------------------------

    def send_metadata(self, metadata: dict[str, Any]) -> bool:
        if not self.publishing:
            return False
        self.conn.send_metadata(metadata)
        self._flush()
        return True

    def send_video_config(self, sps: bytes, pps: bytes, timestamp_ms: int = 0) -> bool:
        """The AVC sequence header; send it before the first frame and when SPS/PPS change."""
        return self._send(True, timestamp_ms, flv.video_sequence_header(sps, pps))

    def send_audio_config(self, audio_specific_config: bytes, timestamp_ms: int = 0) -> bool:
        """The AAC sequence header; send it before the first AAC frame."""
        return self._send(False, timestamp_ms, flv.audio_aac_sequence_header(audio_specific_config))

    def send_video(self, timestamp_ms: int, avcc_payload: bytes, keyframe: bool) -> bool:
        """One access unit in AVCC form. Returns False when it was dropped."""
        if not self.publishing or not self.gate.allow_video(self.buffered(), keyframe):
            return False
        return self._send(True, timestamp_ms, flv.video_frame(avcc_payload, keyframe))

    def send_audio(self, timestamp_ms: int, aac_frame: bytes) -> bool:
        """One raw AAC frame. Returns False when it was dropped."""
        if not self.publishing or not self.gate.allow_audio(self.buffered()):
            return False
        return self._send(False, timestamp_ms, flv.audio_aac_frame(aac_frame))

    def send_g711(self, timestamp_ms: int, payload: bytes, alaw: bool) -> bool:
        """G.711 pass-through (FLV sound format 7/8), for targets that take it."""
        if not self.publishing or not self.gate.allow_audio(self.buffered()):
            return False
        return self._send(False, timestamp_ms, flv.audio_g711(payload, alaw))

    def send_tag(self, tag: FlvTag) -> bool:
        """A tag from :class:`PushMuxer`. Sequence headers and metadata always go out; media
        goes through the back-pressure gate. Returns False when dropped or not publishing."""
        if not self.publishing:
            return False
        if tag.kind == "data":
            self.conn.send_metadata_body(tag.body, tag.timestamp_ms)
            self._flush()
            return True
        if not tag.config:
            buffered = self.buffered()
            allowed = (
                self.gate.allow_video(buffered, tag.keyframe)
                if tag.kind == "video"
                else self.gate.allow_audio(buffered)
            )
            if not allowed:
                return False
        return self._send(tag.kind == "video", tag.timestamp_ms, tag.body)

    def _send(self, video: bool, ts: int, body: bytes) -> bool:
        if not self.publishing:
            return False
        if video:
            self.conn.send_video(ts, body)
        else:
            self.conn.send_audio(ts, body)
        self._flush()
        return True

    # -- plumbing --------------------------------------------------------------------------

    def _flush(self) -> None:
        if self._pump is not None:
            self._pump.wake()

    def _write(self, now: float) -> None:
        data = self.conn.data_to_send(now)
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _on_data(self, data: bytes) -> None:
        if self._pump is None:
            return
        self.conn.receive_data(data, self._pump.now())
        self._pump.wake()

    def _on_lost(self, exc: Exception | None) -> None:
        reason = f"connection lost: {exc}" if exc else "connection closed by the server"
        self.conn.connection_lost(reason)
        self._flush()
        self._transport = None
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def _on_event(self, event: object) -> None:
        if isinstance(event, ev.StatusReceived):
            self.statuses.append(event)
            log.debug("RTMP onStatus %s %s", event.code, event.description)
        elif isinstance(event, ev.PublishStarted):
            if self._started is not None and not self._started.done():
                self._started.set_result(None)
        elif isinstance(event, ev.Failed):
            self._report_failure(event)

    def _report_failure(self, failure: ev.Failed) -> None:
        if self._failure_reported:
            return
        self._failure_reported = True
        log.info(
            "RTMP publish to %s failed at %s: %s %s",
            self.target.tc_url,
            failure.stage,
            failure.code,
            failure.description,
        )
        if self._started is not None and not self._started.done():
            self._started.set_exception(RtmpPublishError(failure))
        elif self.on_failure is not None:
            self.on_failure(failure)
        if self._transport is not None:
            self._transport.close()
