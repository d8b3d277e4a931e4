"""RFC 6184 depacketizer (packetization modes 0 and 1): RTP payloads → access units.

Sans-IO: ``push(payload, seq, ts, marker)`` returns the access units completed by this packet
(usually none or one); ``flush()`` returns the one still open. Handled payloads: single NAL
unit packets (types 1-23), STAP-A (24) and FU-A (28). Interleaved-mode types (STAP-B, MTAP,
FU-B) are counted as malformed and damage the access unit they fall in.

An access unit ends at the marker bit or, when a sender omits it or the marker packet was
lost, at the first packet with another RTP timestamp.

Loss policy ("wait for keyframe"). Any sequence gap breaks the reference chain, so after a
gap the depacketizer is *unsynced* until an undamaged IDR access unit arrives:

* with ``drop_damaged=True`` (the default) damaged access units and every access unit while
  unsynced are not handed out at all — a viewer of a media server expects a frozen picture
  rather than grey smears;
* with ``drop_damaged=False`` they are handed out with ``damaged=True`` (for recorders or
  diagnostics that want to see everything).

Either way a damaged access unit is never a keyframe, and ``needs_keyframe`` is True while
unsynced (also at start, until the first keyframe): the stream hub reads it to send RTCP
PLI/FIR (rate limiting is its business). After a gap, the next access unit's first packet
may itself be lost; it is trusted only when its first slice starts at macroblock 0
(``first_mb_in_slice == 0``, the first bit of the slice header).

SPS/PPS come from ``sprop-parameter-sets`` and from in-band NAL units; the latest of each is
kept and prepended to IDR access units that lack them, so every keyframe handed out is
decodable on its own (late joiners, RTMP, recorders). An IDR with no SPS/PPS known is not a
keyframe. Access units without any slice (e.g. parameter sets sent with their own timestamp)
are absorbed, not handed out.

Sequence numbers follow RFC 3550 A.1: duplicates and packets up to 100 behind are dropped
and counted as ``late``; a forward jump under 3000 is a loss; a larger jump is taken as a
sender restart once two consecutive packets confirm it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .nal import (
    NAL_AUD,
    NAL_FU_A,
    NAL_PPS,
    NAL_SLICE,
    NAL_SLICE_IDR,
    NAL_SPS,
    NAL_STAP_A,
    AccessUnit,
    parse_sprop_parameter_sets,
)
from .sps import Sps, parse_sps

_MAX_DROPOUT = 3000
_MAX_MISORDER = 100


@dataclass(slots=True)
class DepacketizerStats:
    packets: int = 0  # pushed
    lost: int = 0  # missing by sequence gaps
    late: int = 0  # duplicates and out-of-order packets, dropped
    malformed: int = 0  # payloads that could not be used (whole or in part)
    access_units: int = 0  # handed out undamaged
    keyframes: int = 0  # of which keyframes
    damaged: int = 0  # access units that were damaged or unsynced (handed out or dropped)
    dropped: int = 0  # of which not handed out (drop_damaged=True)


NEXT, GAP, LATE = 0, 1, 2


class Sequenced:
    """What the H.264 and VP8 depacketizers share: RTP sequence numbers as RFC 3550 A.1
    takes them (``_sequence`` in ``push``), the open unit, ``flush``."""

    def __init__(self) -> None:
        self.stats = DepacketizerStats()
        self._last_seq = -1
        self._bad_seq = -1  # the number that would confirm a sender restart
        self._ts: int | None = None  # the unit being assembled; None when none is open
        self._damaged = False
        # Until an undamaged keyframe (at start, after a gap) nothing is handed out.
        self._synced = False
        self.needs_keyframe = True

    def _close(self, out: list[AccessUnit]) -> None:
        raise NotImplementedError

    def _begin(self, seq: int, ts: int, out: list[AccessUnit]) -> bool | None:
        """A packet's sequence number and timestamp: None when it is to be dropped (late),
        else whether packets were lost before it. A new timestamp closes the open unit
        (into ``out``); after a gap its tail (and marker) may be what was lost, and a
        keyframe is needed."""
        step = self._sequence(seq)
        if step == LATE:
            return None
        gap = step == GAP
        if self._ts is not None and ts != self._ts:
            self._damaged = self._damaged or gap
            self._close(out)
        if gap:
            self._synced = False
            self.needs_keyframe = True
        return gap

    def flush(self) -> list[AccessUnit]:
        """Close the open access unit (on stop, or on a timer when the marker never came).

        The unit is damaged: its marker was not seen, so its last packets may be lost.
        """
        out: list[AccessUnit] = []
        if self._ts is not None:
            # Without its marker nothing proves the unit's tail arrived.
            self._damaged = True
            self._close(out)
        return out

    def _sequence(self, seq: int) -> int:
        """Count packet ``seq``: NEXT, GAP (``stats.lost`` counts the missing) or LATE (to
        drop, ``stats.late``)."""
        stats = self.stats
        stats.packets += 1
        last = self._last_seq
        d = (seq - last) & 0xFFFF
        if last >= 0 and d != 1:
            if d == 0 or d > 0x10000 - _MAX_MISORDER:
                stats.late += 1
                return LATE
            if d < _MAX_DROPOUT:
                stats.lost += d - 1
            elif seq != self._bad_seq:
                self._bad_seq = (seq + 1) & 0xFFFF
                stats.late += 1
                return LATE
            # else: a confirmed restart, the loss count unknown
            self._last_seq = seq
            return GAP
        self._last_seq = seq
        return NEXT


class H264Depacketizer(Sequenced):
    def __init__(
        self, sprop_parameter_sets: str | None = None, *, drop_damaged: bool = True
    ) -> None:
        super().__init__()
        self.drop_damaged = drop_damaged
        self.sps: bytes | None = None
        self.pps: bytes | None = None
        self.sps_info: Sps | None = None
        self._nals: list[bytes] = []
        self._head_unknown = True  # the very first access unit may have been joined late
        self._seen_vcl = False
        self._fu: list[bytes | memoryview] | None = None
        # A peer's bad fmtp must not fail the call: unusable entries are counted and skipped.
        for item in (sprop_parameter_sets or "").split(","):
            try:
                nals = parse_sprop_parameter_sets(item)
            except ValueError:
                self.stats.malformed += 1
                continue
            for nal in nals:
                self._remember(nal)

    @property
    def parameter_sets(self) -> list[bytes]:
        """The latest SPS and PPS, in that order (empty until both are known)."""
        if self.sps is None or self.pps is None:
            return []
        return [self.sps, self.pps]

    def push(self, payload: bytes, seq: int, ts: int, marker: bool) -> list[AccessUnit]:
        stats = self.stats
        out: list[AccessUnit] = []
        gap = self._begin(seq, ts, out)
        if gap is None:
            return out
        if gap:
            if self._ts is None:
                self._head_unknown = True
            else:
                self._damaged = True
        if self._ts is None:
            self._ts = ts

        if not payload:
            stats.malformed += 1
        else:
            t = payload[0] & 0x1F
            if t == NAL_FU_A:
                self._fu_a(payload)
            elif 0 < t < NAL_STAP_A:
                if self._fu is not None:
                    self._fu = None
                    self._damaged = True
                self._add(payload)
            elif t == NAL_STAP_A:
                if self._fu is not None:
                    self._fu = None
                    self._damaged = True
                self._stap_a(payload)
            elif t < 30:
                # STAP-B, MTAP16/24, FU-B: interleaved mode, not negotiated; data is missing.
                stats.malformed += 1
                self._damaged = True
            # 0, 30, 31: undefined, ignored as RFC 6184 5.4 asks.
        if marker:
            self._close(out)
        return out

    def successor(self) -> H264Depacketizer:
        """A depacketizer for a new sequence space (the sender's SSRC changed): parameter
        sets and the access-unit count carry over, the open unit does not."""
        new = H264Depacketizer(drop_damaged=self.drop_damaged)
        new.sps, new.pps, new.sps_info = self.sps, self.pps, self.sps_info
        new.stats.access_units = self.stats.access_units
        return new

    def _stap_a(self, payload: bytes) -> None:
        pos = 1
        n = len(payload)
        while pos < n:
            if pos + 2 > n:
                break
            size = (payload[pos] << 8) | payload[pos + 1]
            pos += 2
            if size == 0 or pos + size > n:
                break
            self._add(payload[pos : pos + size])
            pos += size
        else:
            return
        self.stats.malformed += 1
        self._damaged = True

    def _fu_a(self, payload: bytes) -> None:
        if len(payload) < 3:
            self.stats.malformed += 1
            self._fu = None
            self._damaged = True
            return
        header = payload[1]
        if header & 0x80:  # start
            if self._fu is not None:
                self._damaged = True  # the previous fragmented NAL never ended
            nal_header = bytes(((payload[0] & 0xE0) | (header & 0x1F),))
            self._fu = [nal_header, memoryview(payload)[2:]]
        elif self._fu is None:
            self._damaged = True  # its start was lost: drop the fragment
            return
        else:
            self._fu.append(memoryview(payload)[2:])
        if header & 0x40:  # end
            nal = b"".join(self._fu)
            self._fu = None
            self._add(nal)

    def _add(self, nal: bytes) -> None:
        t = nal[0] & 0x1F
        if t in (NAL_SLICE, NAL_SLICE_IDR):
            if not self._seen_vcl:
                self._seen_vcl = True
                # first_mb_in_slice is ue(v): a leading 1 bit means 0.
                if self._head_unknown and not (len(nal) > 1 and nal[1] & 0x80):
                    self._damaged = True
        elif t in (NAL_SPS, NAL_PPS):
            self._remember(nal)
        self._nals.append(nal)

    def _remember(self, nal: bytes) -> None:
        t = nal[0] & 0x1F
        if t == NAL_SPS:
            if nal != self.sps:
                self.sps = bytes(nal)
                try:
                    self.sps_info = parse_sps(self.sps)
                except ValueError:
                    self.sps_info = None
        elif t == NAL_PPS:
            self.pps = bytes(nal)

    def _close(self, out: list[AccessUnit]) -> None:
        assert self._ts is not None
        ts = self._ts
        nals = self._nals
        damaged = self._damaged or self._fu is not None
        seen_vcl = self._seen_vcl
        self._ts = None
        self._nals = []
        self._damaged = False
        self._head_unknown = False
        self._seen_vcl = False
        self._fu = None
        if not seen_vcl:
            return  # no picture; parameter sets in it were remembered
        stats = self.stats
        keyframe = False
        if damaged:
            self._synced = False
            self.needs_keyframe = True
        elif any(n[0] & 0x1F == NAL_SLICE_IDR for n in nals):
            keyframe = self._complete_parameter_sets(nals)
        if keyframe:
            self._synced = True
            self.needs_keyframe = False
            stats.keyframes += 1
        elif damaged or not self._synced:
            stats.damaged += 1
            if self.drop_damaged:
                stats.dropped += 1
            else:
                out.append(AccessUnit(ts, nals, False, True))
            return
        stats.access_units += 1
        out.append(AccessUnit(ts, nals, keyframe, False))

    def _complete_parameter_sets(self, nals: list[bytes]) -> bool:
        """Insert the remembered SPS/PPS the unit lacks; False if they are unknown."""
        insert_at = 0
        last_sps = -1
        has_pps = False
        for i, n in enumerate(nals):
            t = n[0] & 0x1F
            if t == NAL_SPS:
                last_sps = i
            elif t == NAL_PPS:
                has_pps = True
            elif t == NAL_AUD and i == 0:
                insert_at = 1  # the access unit delimiter must stay first
        if last_sps >= 0 and has_pps:
            return True
        if (last_sps < 0 and self.sps is None) or (not has_pps and self.pps is None):
            return False
        if last_sps < 0 and not has_pps:
            assert self.sps is not None and self.pps is not None
            nals[insert_at:insert_at] = [self.sps, self.pps]
        elif last_sps < 0:
            assert self.sps is not None
            nals.insert(insert_at, self.sps)
        else:
            assert self.pps is not None
            nals.insert(last_sps + 1, self.pps)
        return True
