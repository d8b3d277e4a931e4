"""G.711 -> Opus, once per stream, for viewers whose browser offers no G.711.

One :class:`OpusTranscoder` per stream is a packet sink of it while at least one viewer
needs opus; it decodes the stream's PCMU/PCMA audio, resamples to 48 kHz and encodes 20 ms
Opus frames with PyAV, and hands each resulting RTP packet to every such viewer's
``send_rtp("audio", ...)`` (which rewrites SSRC/PT/sequence per viewer as usual).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import av

from wcs.rtp.packet import pack_header

if TYPE_CHECKING:
    from wcs.app.streams import Stream, Subscription

    from .peer import ViewerPeer

log = logging.getLogger(__name__)

OPUS_RATE = 48000
OPUS_FRAME = 960  # 20 ms
_DECODERS = {"PCMU": "pcm_mulaw", "PCMA": "pcm_alaw"}


def rtp_payload(packet: bytes) -> bytes | None:
    """The payload of an RTP packet (CSRCs, extension and padding skipped), or None."""
    n = len(packet)
    if n < 12 or packet[0] & 0xC0 != 0x80:
        return None
    offset = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        if n < offset + 4:
            return None
        offset += 4 + 4 * int.from_bytes(packet[offset + 2 : offset + 4], "big")
    end = n
    if packet[0] & 0x20 and n > offset:
        end -= packet[-1]
    if end < offset:
        return None
    return packet[offset:end]


class OpusTranscoder:
    """The stream's audio as Opus RTP, shared by the viewers that need it."""

    def __init__(self, stream: Stream, on_idle: Callable[[], Any] | None = None) -> None:
        self.stream = stream
        self.on_idle = on_idle
        self.peers: list[ViewerPeer] = []
        self.errors = 0
        self.packets_out = 0
        self._subscription: Subscription | None = None
        self._decoder: Any = None
        self._codec = ""
        self._resampler: Any = None
        self._encoder: Any = None
        self._seq = secrets.randbits(16)
        self._ssrc = secrets.randbits(32) or 1
        self._ts = secrets.randbits(32)

    # --- seats --------------------------------------------------------------------------

    def add(self, peer: ViewerPeer) -> None:
        if peer not in self.peers:
            self.peers = [*self.peers, peer]
        if self._subscription is None:
            self._subscription = self.stream.subscribe_packets(self)

    def remove(self, peer: ViewerPeer) -> None:
        self.peers = [p for p in self.peers if p is not peer]
        if not self.peers:
            self._stop()

    def _stop(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        self._decoder = self._encoder = self._resampler = None
        if self.on_idle is not None:
            self.on_idle()

    # --- PacketSink ---------------------------------------------------------------------

    def on_rtp(self, kind: str, packet: bytes) -> None:
        if kind != "audio":
            return
        payload = rtp_payload(packet)
        if not payload:
            return
        try:
            for out in self.transcode(payload):
                for peer in self.peers:
                    peer.send_rtp("audio", out)
        except (av.error.FFmpegError, ValueError) as exc:  # a bad packet is dropped, counted
            self.errors += 1
            log.debug("opus transcoding of %s: %s", self.stream.name, exc)

    def on_stream_end(self, reason: str) -> None:
        self._subscription = None
        self.peers = []
        self._decoder = self._encoder = self._resampler = None

    # --- the work -----------------------------------------------------------------------

    def _setup(self) -> bool:
        track = self.stream.tracks.get("audio")
        codec = track.codec.upper() if track else ""
        if codec not in _DECODERS:
            return False
        if self._decoder is not None and codec == self._codec:
            return True
        self._codec = codec
        self._decoder = av.CodecContext.create(_DECODERS[codec], "r")
        self._decoder.sample_rate = 8000
        self._decoder.layout = "mono"
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=OPUS_RATE)
        enc = av.CodecContext.create("libopus", "w")
        enc.sample_rate = OPUS_RATE
        enc.layout = "mono"
        enc.format = "s16"
        enc.bit_rate = 32000
        enc.open()
        self._encoder = enc
        return True

    def transcode(self, payload: bytes) -> list[bytes]:
        """G.711 payload in, zero or more Opus RTP packets out."""
        if not self._setup():
            return []
        out: list[bytes] = []
        for frame in self._decoder.decode(av.Packet(payload)):
            frame.pts = None
            for resampled in self._resampler.resample(frame):
                for packet in self._encoder.encode(resampled):
                    # Our own clock: the encoder's pts is not reliable across PyAV versions.
                    out.append(self._rtp(bytes(packet), self._ts))
                    self._ts = (self._ts + (packet.duration or OPUS_FRAME)) & 0xFFFFFFFF
        return out

    def _rtp(self, payload: bytes, pts: int) -> bytes:
        self._seq = (self._seq + 1) & 0xFFFF
        self.packets_out += 1
        return pack_header(111, self._seq, pts, self._ssrc) + payload
