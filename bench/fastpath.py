"""Proposed hot-path changes, applied at run time so their effect can be measured first.

These belong in other people's modules (wcs/webrtc/ice.py, srtp.py, sender.py); they are
kept here as patches so that ``bench.run`` can measure before and after on the same
machine in the same run. Each is described, with the exact change, in bench/RESULTS.md.

1. ``connected_send``: ``IceTransport.select_remote`` connects the UDP socket to the
   selected pair and sends with ``sock.send``: no address parsing and no route lookup per
   packet in the kernel, and no Python closure frame.
2. ``direct_srtp``: ``SrtpContext.protect`` calls libsrtp through pylibsrtp's cffi binding
   with a buffer and length cell made once per context, instead of
   ``pylibsrtp.Session.protect`` (which allocates a length cell and copies twice per call).
3. ``shared_history``: ``TrackSender`` keeps the *source* packet (one object shared by
   every viewer) in its NACK history and rebuilds the header on a retransmission, instead
   of keeping every viewer's own rewritten copy (~0.5 MB per viewer of a video stream).
"""

from __future__ import annotations

import struct
from typing import Any

import pylibsrtp
from pylibsrtp._binding import ffi, lib

from wcs.webrtc import ice, sender, srtp

_HDR = struct.Struct("!BBHII")
_SRC = struct.Struct("!HII")
_applied: list[str] = []


def connected_send() -> None:
    original = ice.IceTransport.select_remote

    def select_remote(self: Any, host: str, port: int) -> None:
        original(self, host, port)
        sock = self._sock
        if sock is not None:
            sock.connect((host, port))
            self.send = sock.send

    ice.IceTransport.select_remote = select_remote  # type: ignore[method-assign]
    _applied.append("connected_send")


def _fast_protect(session: pylibsrtp.Session) -> Any:
    ctx = session._srtp[0]
    buf = ffi.new("char[]", 1500 + 200)
    view = ffi.buffer(buf)
    length = ffi.new("int *")
    protect = lib.srtp_protect
    limit = 1500

    def fast(data: bytes) -> bytes:
        n = len(data)
        if n > limit:
            raise ValueError("packet is too long")
        view[0:n] = data
        length[0] = n
        if protect(ctx, buf, length):
            raise pylibsrtp.Error("srtp_protect failed")
        return view[0 : length[0]]  # type: ignore[no-any-return]

    return fast


def direct_srtp() -> None:
    original = srtp.SrtpContext.__init__

    def __init__(self: Any, profile: str, local_key: bytes, remote_key: bytes) -> None:
        original(self, profile, local_key, remote_key)
        self.protect = _fast_protect(self._tx)

    srtp.SrtpContext.__init__ = __init__  # type: ignore[method-assign]
    _applied.append("direct_srtp")


def shared_history() -> None:
    cls = sender.TrackSender
    mask = sender.HISTORY_SIZE - 1
    max_reorder = sender.MAX_REORDER

    def rewrite(self: Any, packet: bytes) -> bytes | None:
        # TrackSender.rewrite with one change: the history keeps ``packet``, not ``data``.
        n = len(packet)
        if n < 12 or packet[0] & 0xC0 != 0x80:
            self.malformed += 1
            return None
        seq, ts, ssrc = _SRC.unpack_from(packet, 2)
        if ssrc != self._src_ssrc:
            self._resync(ssrc, seq, ts)
        out_seq = (seq + self._seq_off) & 0xFFFF
        delta = (out_seq - self.last_seq) & 0xFFFF
        if delta >= 0x8000:
            if delta < 0x10000 - max_reorder:
                self._resync(ssrc, seq, ts)
                out_seq = (seq + self._seq_off) & 0xFFFF
                self.last_seq = out_seq
        else:
            self.last_seq = out_seq
        out_ts = (ts + self._ts_off) & 0xFFFFFFFF
        data: bytes = (
            _HDR.pack(packet[0], (packet[1] & 0x80) | self.payload_type, out_seq, out_ts,
                      self.ssrc)
            + packet[12:]
        )
        self._history[out_seq & mask] = packet
        if out_ts != self.last_ts:
            self.last_ts = out_ts
            self.last_ts_time = self._clock()
        self.packets += 1
        self.octets += n - 12 - 4 * (packet[0] & 0x0F)
        return data

    def history(self: Any, seq: int) -> bytes | None:
        packet = self._history[seq & mask]
        if packet is None:
            return None
        src_seq, ts, _ = _SRC.unpack_from(packet, 2)
        if (src_seq + self._seq_off) & 0xFFFF != seq:
            return None  # overwritten, or offsets changed since (source restart)
        out_ts = (ts + self._ts_off) & 0xFFFFFFFF
        data: bytes = _HDR.pack(packet[0], (packet[1] & 0x80) | self.payload_type, seq, out_ts,
                                self.ssrc) + packet[12:]
        return data

    cls.rewrite = rewrite  # type: ignore[method-assign]
    cls.history = history  # type: ignore[method-assign]
    _applied.append("shared_history")


def no_gc() -> None:
    """Diagnostic only: no cyclic GC at all (tells whether GC pauses make the tail)."""
    import gc

    gc.disable()
    _applied.append("no_gc")


ALL = {"no_gc": no_gc, "connected_send": connected_send, "direct_srtp": direct_srtp,
       "shared_history": shared_history}


def apply(names: list[str]) -> list[str]:
    for name in names:
        ALL[name]()
    return list(_applied)
