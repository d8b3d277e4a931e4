"""The RTMP publishing client as a sans-IO state machine.

Feed server bytes to :meth:`RtmpClientConnection.receive_data`, send whatever
:meth:`data_to_send` returns, and read :meth:`next_event` until it gives None. No sockets,
no clock of its own: the edge (``client.py``) or a test drives it.

Sequence: C0/C1 → S0/S1/S2 + C2 → Set Chunk Size → ``connect`` → ``_result`` →
``releaseStream``, ``FCPublish``, ``createStream`` → ``_result`` (stream id) →
``publish(name, "live")`` → ``onStatus NetStream.Publish.Start``. Then media, and on close
``FCUnpublish`` + ``deleteStream``.
"""

from __future__ import annotations

import struct
from collections import deque
from enum import Enum
from typing import Any

from . import amf0
from . import events as ev
from . import messages as m
from .chunk import ChunkDecoder, ChunkEncoder
from .errors import RtmpError
from .handshake import ClientHandshake, HandshakeState
from .messages import RtmpMessage
from .url import RtmpTarget

DEFAULT_FLASH_VERSION = "FMLE/3.0 (compatible; wcs)"
DEFAULT_CHUNK_SIZE = 4096

# onStatus codes that end publishing even when the level is not "error".
_FAILURE_CODES = frozenset(
    {
        "NetStream.Publish.BadName",
        "NetStream.Publish.Denied",
        "NetStream.Unpublish.Success",
        "NetConnection.Connect.Rejected",
        "NetConnection.Connect.Closed",
    }
)

_TX_CONNECT = 1
_TX_RELEASE = 2
_TX_FCPUBLISH = 3
_TX_CREATE = 4
_TX_PUBLISH = 5


class ConnState(Enum):
    IDLE = "idle"
    HANDSHAKE = "handshake"
    CONNECTING = "connecting"
    CREATING_STREAM = "creating_stream"
    PUBLISH_REQUESTED = "publish_requested"
    PUBLISHING = "publishing"
    FAILED = "failed"
    CLOSED = "closed"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class RtmpClientConnection:
    def __init__(
        self,
        target: RtmpTarget,
        flash_version: str = DEFAULT_FLASH_VERSION,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        epoch_ms: int = 0,
        random_bytes: bytes | None = None,
    ) -> None:
        self.target = target
        self.flash_version = flash_version
        self.state = ConnState.IDLE
        self.stream_id = 0
        self.bytes_received = 0  # chunk-stream bytes since the handshake (acknowledged)
        self.peer_window = 0  # the server's Window Acknowledgement Size; 0: none yet
        self.failure: ev.Failed | None = None
        self._chunk_size = chunk_size
        self._handshake = ClientHandshake(epoch_ms, random_bytes)
        self._encoder = ChunkEncoder()
        self._decoder = ChunkDecoder()
        self._out = bytearray()
        self._t0 = 0.0
        self._events: deque[ev.Event] = deque()
        self._last_ack = 0
        self._window_sent = 0
        self._next_tx = 10

    # -- driving ---------------------------------------------------------------------------

    def initiate(self, now: float = 0.0) -> None:
        """Queue C0 + C1; call once, right after the transport connects. ``now`` (seconds,
        the caller's clock) is the epoch of the handshake's S2 time field."""
        if self.state is not ConnState.IDLE:
            raise RtmpError("connection already initiated")
        self._t0 = now
        self._out += self._handshake.start()
        self.state = ConnState.HANDSHAKE

    def data_to_send(self, now: float) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def next_event(self) -> ev.Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        return None  # RTMP has no timers of its own: the edge bounds the connect

    def handle_timer(self, now: float) -> None:
        return None

    @property
    def publishing(self) -> bool:
        return self.state is ConnState.PUBLISHING

    def receive_data(self, data: bytes, now: float = 0.0) -> None:
        """Process bytes from the server. Malformed input ends in a :class:`Failed` event,
        never an exception."""
        if self.state in (ConnState.FAILED, ConnState.CLOSED, ConnState.IDLE):
            return
        try:
            if self.state is ConnState.HANDSHAKE:
                now_ms = max(0, int((now - self._t0) * 1000))
                self._out += self._handshake.receive(data, now_ms)
                if self._handshake.state is not HandshakeState.DONE:
                    return
                self._events.append(
                    ev.HandshakeCompleted(
                        self._handshake.server_version, self._handshake.s2_echo_ok
                    )
                )
                self._after_handshake()
                data = self._handshake.leftover
            self.bytes_received += len(data)
            for msg in self._decoder.feed(data):
                self._handle(msg)
                if self._failed():
                    return
            self._maybe_ack()
        except RtmpError as exc:
            stage = "handshake" if self.state is ConnState.HANDSHAKE else "protocol"
            self._fail(stage, "", str(exc))

    def connection_lost(self, description: str = "connection closed by the server") -> None:
        """The transport closed. Before ``close()`` this is a failure of the current stage."""
        if self.state in (ConnState.FAILED, ConnState.CLOSED):
            return
        stage = {
            ConnState.IDLE: "transport",
            ConnState.HANDSHAKE: "handshake",
            ConnState.CONNECTING: "connect",
            ConnState.CREATING_STREAM: "createStream",
            ConnState.PUBLISH_REQUESTED: "publish",
            ConnState.PUBLISHING: "publishing",
        }[self.state]
        self._fail(stage, "", description)

    # -- media -----------------------------------------------------------------------------

    def send_video(self, timestamp_ms: int, tag_body: bytes) -> None:
        """One FLV video tag body (see ``flv.py``)."""
        self._send_media(m.VIDEO, m.CSID_VIDEO, timestamp_ms, tag_body)

    def send_audio(self, timestamp_ms: int, tag_body: bytes) -> None:
        """One FLV audio tag body (see ``flv.py``)."""
        self._send_media(m.AUDIO, m.CSID_AUDIO, timestamp_ms, tag_body)

    def send_metadata(self, metadata: dict[str, Any], timestamp_ms: int = 0) -> None:
        """``@setDataFrame("onMetaData", {...})``: the server keeps it for every player."""
        body = amf0.encode("@setDataFrame", "onMetaData", amf0.EcmaArray(metadata))
        self._send_media(m.DATA_AMF0, m.CSID_DATA, timestamp_ms, body)

    def send_metadata_body(self, body: bytes, timestamp_ms: int = 0) -> None:
        """An already encoded data message (``@setDataFrame`` ...)."""
        self._send_media(m.DATA_AMF0, m.CSID_DATA, timestamp_ms, body)

    def _send_media(self, type_id: int, csid: int, ts: int, body: bytes) -> None:
        if self.state is not ConnState.PUBLISHING:
            raise RtmpError(f"cannot send media in state {self.state.value}")
        self._send(RtmpMessage(type_id, self.stream_id, ts, body, csid))

    def close(self) -> None:
        """Queue FCUnpublish + deleteStream (when a stream exists); no more media after."""
        if self.state in (ConnState.CLOSED, ConnState.IDLE, ConnState.HANDSHAKE):
            self.state = ConnState.CLOSED
            return
        if self.state is not ConnState.FAILED and self.stream_id:
            self._command("FCUnpublish", self._tx(), None, self.target.stream)
            self._command("deleteStream", self._tx(), None, float(self.stream_id))
        self.state = ConnState.CLOSED
        self._events.append(ev.Closed())

    # -- internals -------------------------------------------------------------------------

    def _failed(self) -> bool:
        # A method, so mypy does not narrow self.state across the calls that change it.
        return self.state is ConnState.FAILED

    def _tx(self) -> int:
        self._next_tx += 1
        return self._next_tx

    def _send(self, msg: RtmpMessage) -> None:
        self._out += self._encoder.encode(msg)

    def _command(self, name: str, tx: int, *args: Any, stream_id: int = 0) -> None:
        body = amf0.encode(name, float(tx), *args)
        self._send(RtmpMessage(m.COMMAND_AMF0, stream_id, 0, body, m.CSID_COMMAND))

    def _fail(self, stage: str, code: str, description: str) -> None:
        failure = ev.Failed(stage, code, description)
        self.failure = failure
        self.state = ConnState.FAILED
        self._events.append(failure)

    def _after_handshake(self) -> None:
        # Set Chunk Size first, so everything after (connect included) uses big chunks.
        self._send(m.set_chunk_size(self._chunk_size))
        self._encoder.set_chunk_size(self._chunk_size)
        self.state = ConnState.CONNECTING
        self._command(
            "connect",
            _TX_CONNECT,
            {
                "app": self.target.app,
                "type": "nonprivate",
                "flashVer": self.flash_version,
                "tcUrl": self.target.tc_url,
            },
        )

    def _maybe_ack(self) -> None:
        if self.peer_window and self.bytes_received - self._last_ack >= self.peer_window:
            self._last_ack = self.bytes_received
            self._send(m.acknowledgement(self.bytes_received))

    def _handle(self, msg: RtmpMessage) -> None:
        t = msg.type_id
        if t == m.SET_CHUNK_SIZE:
            return  # the decoder applied it already
        if t == m.ABORT:
            self._decoder.abort(m.parse_u32(msg.payload, "Abort"))
        elif t == m.WINDOW_ACK_SIZE:
            self.peer_window = m.parse_u32(msg.payload, "Window Acknowledgement Size")
        elif t == m.SET_PEER_BANDWIDTH:
            window, limit = m.parse_peer_bandwidth(msg.payload)
            self._events.append(ev.PeerBandwidth(window, limit))
            if window != self._window_sent:  # spec 5.4.5: answer with our window size
                self._window_sent = window
                self._send(m.window_ack_size(window))
        elif t == m.USER_CONTROL:
            self._user_control(msg.payload)
        elif t == m.COMMAND_AMF0:
            self._on_command(amf0.decode(msg.payload))
        elif t == m.COMMAND_AMF3:
            # AMF3 command: one format byte (0) and then AMF0 values.
            self._on_command(amf0.decode(msg.payload[1:]))
        # Acknowledgements from the server, data and media messages: nothing to do.

    def _user_control(self, payload: bytes) -> None:
        event, data = m.parse_user_control(payload)
        if event == m.UC_PING_REQUEST and len(data) >= 4:
            stamp = struct.unpack(">I", data[:4])[0]
            self._events.append(ev.PingReceived(stamp))
            self._send(m.user_control(m.UC_PING_RESPONSE, stamp))
        elif event == m.UC_STREAM_BEGIN and len(data) >= 4:
            self._events.append(ev.StreamBegin(struct.unpack(">I", data[:4])[0]))

    def _on_command(self, values: list[Any]) -> None:
        if not values or not isinstance(values[0], str):
            raise RtmpError("command message without a name")
        name = values[0]
        tx = int(values[1]) if len(values) > 1 and isinstance(values[1], float) else 0
        args = values[2:]
        info = next((a for a in reversed(args) if isinstance(a, dict)), {})
        if name == "_result":
            self._on_result(tx, args)
        elif name == "_error":
            self._on_error(tx, info)
        elif name == "onStatus":
            self._on_status(info)
        elif name == "close":
            self._fail(self._stage(), "NetConnection.Connect.Closed", "server sent close")
        # onBWDone, onFCPublish and other notifications need no answer from a publisher.

    def _stage(self) -> str:
        return {
            ConnState.CONNECTING: "connect",
            ConnState.CREATING_STREAM: "createStream",
            ConnState.PUBLISH_REQUESTED: "publish",
        }.get(self.state, "publishing")

    def _on_result(self, tx: int, args: list[Any]) -> None:
        if tx == _TX_CONNECT and self.state is ConnState.CONNECTING:
            props = args[0] if args and isinstance(args[0], dict) else {}
            info = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
            self._events.append(ev.Connected(props, info))
            stream = self.target.stream
            self._command("releaseStream", _TX_RELEASE, None, stream)
            self._command("FCPublish", _TX_FCPUBLISH, None, stream)
            self._command("createStream", _TX_CREATE, None)
            self.state = ConnState.CREATING_STREAM
        elif tx == _TX_CREATE and self.state is ConnState.CREATING_STREAM:
            sid = next((a for a in args if isinstance(a, float)), None)
            if sid is None or sid < 1 or sid != int(sid):
                self._fail("createStream", "", f"createStream result without a stream id: {args}")
                return
            self.stream_id = int(sid)
            self._events.append(ev.StreamCreated(self.stream_id))
            self._command(
                "publish", _TX_PUBLISH, None, self.target.stream, "live", stream_id=self.stream_id
            )
            self.state = ConnState.PUBLISH_REQUESTED

    def _on_error(self, tx: int, info: dict[str, Any]) -> None:
        code, desc = _text(info.get("code")), _text(info.get("description"))
        if tx == _TX_CONNECT:
            self._fail("connect", code, desc)
        elif tx == _TX_CREATE:
            self._fail("createStream", code, desc)
        elif tx == _TX_PUBLISH:
            self._fail("publish", code, desc)
        # releaseStream/FCPublish errors are normal (nothing to release): ignore them.

    def _on_status(self, info: dict[str, Any]) -> None:
        level = _text(info.get("level"))
        code = _text(info.get("code"))
        desc = _text(info.get("description"))
        self._events.append(ev.StatusReceived(level, code, desc))
        if code == "NetStream.Publish.Start":
            if self.state is ConnState.PUBLISH_REQUESTED:
                self.state = ConnState.PUBLISHING
                self._events.append(ev.PublishStarted(code, desc))
        elif (level == "error" or code in _FAILURE_CODES) and self.state not in (
            ConnState.CLOSED,
            ConnState.FAILED,
        ):
            self._fail(self._stage(), code, desc)
