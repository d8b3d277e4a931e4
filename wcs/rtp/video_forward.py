"""Another stream's H.264 RTP forwarded into a call's video, re-stamped (sans-IO, no decode).

A :class:`VideoForwarder` rewrites each packet of the injected stream onto the call's own
video stream (:class:`~wcs.rtp.send_state.SendState`): our SSRC and payload type, sequence
numbers and timestamps offset so they continue where the call's last packet left them.
CSRCs, header extensions and padding of the source are dropped: the SIP peer negotiated
none of them.

Packetization (RFC 6184): into a call that answered mode 1, or from a mode 0 source, each
packet goes as it is (a loss in the source stays a gap in our sequence numbers). A mode 1
source (a browser: FU-A, STAP-A) into a call that answered mode 0 (single NAL units only) is
repacketized: an STAP-A is split into its NAL units, FU-A fragments are reassembled into
their NAL unit (a lost fragment drops that NAL unit), each then sent in a packet of its own,
however large (the datagram may travel as IP fragments; over :data:`MAX_NAL` it is dropped).

A stream whose packets are not H.264 (VP8) offers H.264 access units instead, transcoded
once for every frame sink (:class:`~wcs.app.vp8_stage.Vp8Stage`): :meth:`frame` packetizes
each in the call's mode (:class:`~wcs.media.h264.packetizer.H264Packetizer`: FU-A/STAP-A,
or single NAL units for a mode 0 call) with the same re-stamping.

At a switch (``restart``) nothing goes out until a packet that starts a decodable picture
arrives (an SPS, an IDR slice, or an STAP-A/FU-A carrying one; an IDR access unit): the
peer never gets the tail of a picture it cannot decode. The caller asks the source for a
keyframe then, and whenever the peer does (RTCP PLI/FIR: :meth:`keyframe_wanted` calls
``on_keyframe_wanted``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from wcs.media.h264.nal import AccessUnit
from wcs.media.h264.packetizer import H264Packetizer
from wcs.rtp.packet import payload_span, seq_ts_ssrc
from wcs.rtp.send_state import SendState

_SPS, _IDR, _STAP_A, _FU_A = 7, 5, 24, 28
_HEAD = struct.Struct("!BBHII")
MAX_NAL = 65000  # one UDP datagram (65507 bytes of payload) with our RTP header
FRAME_MTU = 1200  # the largest payload :meth:`VideoForwarder.frame` makes in mode 1


def starts_picture(payload: bytes) -> bool:
    """Whether an H.264 RTP payload (RFC 6184) starts a keyframe: SPS or IDR, alone, first
    in an STAP-A, or the first fragment of an FU-A."""
    if not payload:
        return False
    kind = payload[0] & 0x1F
    if kind in (_SPS, _IDR):
        return True
    if kind == _STAP_A and len(payload) > 3:
        return payload[3] & 0x1F in (_SPS, _IDR)
    if kind == _FU_A and len(payload) > 1:
        return bool(payload[1] & 0x80) and payload[1] & 0x1F == _IDR
    return False


class VideoForwarder:
    def __init__(
        self,
        state: SendState,
        payload_type: int,
        on_keyframe_wanted: Callable[[], None] | None = None,
        *,
        single_nal: bool = False,
    ) -> None:
        self.state = state
        self.payload_type = payload_type
        self.on_keyframe_wanted = on_keyframe_wanted
        self.single_nal = single_nal  # the call answered mode 0: repacketize mode 1
        self.waiting = True  # for a packet that starts a picture
        self._seq_offset = 0
        self._ts_offset = 0
        self._fu: bytearray | None = None  # the NAL unit being reassembled (single_nal)
        self._fu_seq = 0
        self.forwarded = 0
        self.skipped = 0  # dropped while waiting for a keyframe
        self.malformed = 0
        self.dropped_nals = 0  # single_nal: a fragment lost, or too large
        self._packetizer = (
            H264Packetizer(mtu=MAX_NAL, mode=0) if single_nal else H264Packetizer(mtu=FRAME_MTU)
        )

    def restart(self) -> None:
        """A new source (or the same one again): wait for its next keyframe."""
        self.waiting = True
        self._fu = None

    def keyframe_wanted(self) -> None:
        """The peer asked us for a keyframe (PLI/FIR): pass it on to the source."""
        if self.on_keyframe_wanted is not None:
            self.on_keyframe_wanted()

    def send(self, data: bytes | AccessUnit) -> list[bytes]:
        """A packet of the source (:meth:`rewrite`) or an access unit (:meth:`frame`)."""
        return self.rewrite(data) if isinstance(data, bytes) else self.frame(data)

    def rewrite(self, packet: bytes) -> list[bytes]:
        """The packet(s) on our stream: none while waiting for a keyframe or for the rest
        of a fragmented NAL unit, or for a malformed packet."""
        start, end = payload_span(packet) if len(packet) >= 12 else (-1, -1)
        if start < 0 or start == end:
            self.malformed += 1
            return []
        seq, ts, _ = seq_ts_ssrc(packet)
        marker, payload = packet[1] >= 0x80, packet[start:end]
        st = self.state
        if self.waiting:
            if not starts_picture(payload):
                self.skipped += 1
                return []
            self._switch(seq, ts)
        out_ts = (ts + self._ts_offset) & 0xFFFFFFFF
        if self.single_nal:
            nals = self._single_nals(seq, payload)
            return [self._packet(st.sequence, out_ts, marker and i == len(nals) - 1, nal)
                    for i, nal in enumerate(nals)]  # fmt: skip
        return [self._packet((seq + self._seq_offset) & 0xFFFF, out_ts, marker, payload)]

    def frame(self, au: AccessUnit) -> list[bytes]:
        """An H.264 access unit (90 kHz timestamp) as packets on our stream, packetized in
        the call's mode: none while waiting for a keyframe (an IDR with its SPS)."""
        st = self.state
        if self.waiting:
            if not au.keyframe:
                self.skipped += 1
                return []
            self._switch(st.sequence, au.timestamp)
        nals = au.nals
        if self.single_nal:  # one datagram each: a larger one cannot go
            nals = [n for n in nals if len(n) <= MAX_NAL]
            self.dropped_nals += len(au.nals) - len(nals)
        payloads = self._packetizer.packetize(nals)
        ts = (au.timestamp + self._ts_offset) & 0xFFFFFFFF
        return [self._packet(st.sequence, ts, i == len(payloads) - 1, p)
                for i, p in enumerate(payloads)]  # fmt: skip

    def _switch(self, seq: int, ts: int) -> None:
        """The source's first packet (``seq``, ``ts``) after a switch: continue our stream
        at the next sequence number and a timestamp just after the last one we sent (one
        90 kHz tick: a new picture, never an old one's time)."""
        st = self.state
        self.waiting = False
        self._seq_offset = (st.sequence - seq) & 0xFFFF
        self._ts_offset = (st.timestamp + (1 if st.packets else 0) - ts) & 0xFFFFFFFF

    def _packet(self, seq: int, ts: int, marker: bool, payload: bytes) -> bytes:
        st = self.state
        head = _HEAD.pack(0x80, (0x80 if marker else 0) | self.payload_type, seq, ts, st.ssrc)
        if ((seq - st.sequence) & 0xFFFF) < 0x8000:  # newest so far: our stream moves on
            st.sequence = (seq + 1) & 0xFFFF
            st.timestamp = ts
        st.packets += 1
        st.octets += len(payload)
        self.forwarded += 1
        return head + payload

    def _single_nals(self, seq: int, payload: bytes) -> list[bytes]:
        """The whole NAL units a mode 1 payload completes (mode 0 ones pass as they are)."""
        kind = payload[0] & 0x1F
        if kind == _STAP_A:
            nals, pos = [], 1
            while pos + 2 <= len(payload):
                size = int.from_bytes(payload[pos : pos + 2], "big")
                nal = payload[pos + 2 : pos + 2 + size]
                if size == 0 or len(nal) < size:
                    self.malformed += 1
                    break
                nals.append(nal)
                pos += 2 + size
            return nals
        if kind != _FU_A:
            return [payload]
        if len(payload) < 3:
            self.malformed += 1
            return []
        fu = payload[1]
        if fu & 0x80:  # start: the NAL header from the indicator's F/NRI and the FU type
            if self._fu is not None:
                self.dropped_nals += 1  # its end never came
            self._fu = bytearray([(payload[0] & 0xE0) | (fu & 0x1F)])
        elif self._fu is None or seq != (self._fu_seq + 1) & 0xFFFF:
            if self._fu is not None:
                self.dropped_nals += 1  # a fragment lost: the NAL unit cannot be decoded
            self._fu = None
            return []
        self._fu += payload[2:]
        self._fu_seq = seq
        if len(self._fu) > MAX_NAL:
            self.dropped_nals += 1
            self._fu = None
            return []
        if not fu & 0x40:  # not the end yet
            return []
        nal, self._fu = bytes(self._fu), None
        return [nal]


__all__ = ["FRAME_MTU", "MAX_NAL", "VideoForwarder", "starts_picture"]
