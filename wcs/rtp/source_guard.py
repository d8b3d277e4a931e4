"""Which RTP source a session takes media from (sans-IO RTP source validation).

Anyone who can reach a call's media port could otherwise inject frames into the stream, its
viewers and its recordings, and grow per-SSRC state without bound. One ``(address, SSRC)``
pair is the accepted source; everything else must earn its place:

- while nothing is accepted, a packet from the address in the peer's SDP is accepted at once
  (signalling vouched for it);
- any other pair is a *candidate*: it must send ``probation`` consecutive in-sequence packets
  (RFC 3550 A.1, MIN_SEQUENTIAL) before it replaces the accepted source. Its packets are held,
  not lost, and released on promotion;
- a candidate from the accepted source's address or the SDP address (the peer restarted or
  changed its SSRC, e.g. after a re-INVITE) may always try; one from any other address
  (symmetric RTP behind a NAT) only within ``latch_window`` seconds of the media start or the
  last answer while nothing is accepted, or once the accepted source has been silent for
  ``silence`` seconds;
- everything else is dropped and counted (``dropped``).

Candidates are bounded (``max_sources``): a full table takes no new candidate from a foreign
address, and one from a trusted address evicts the stalest foreign (else stalest) candidate.
Silent candidates go after ``timeout`` (:meth:`expire`, driven by the session's timer).
"""

from __future__ import annotations

from dataclasses import dataclass

from wcs.rtp.stats import MIN_SEQUENTIAL, ReceiveStatistics

Address = tuple[str, int]

ACCEPT = 0  # the packet passes (after a promotion, :meth:`take_released` has earlier ones)
HOLD = 1  # kept: its candidate is on probation
DROP = 2  # not from an acceptable source


@dataclass(frozen=True, slots=True)
class GuardConfig:
    probation: int = MIN_SEQUENTIAL  # in-sequence packets before a new source is accepted
    latch_window: float = 10.0  # seconds after media start/answer a foreign address may latch
    silence: float = 3.0  # accepted source silent this long: another address may take over
    max_sources: int = 8  # candidates and per-SSRC statistics kept per session
    timeout: float = 30.0  # a silent candidate or old source is forgotten after this


class _Candidate:
    __slots__ = ("good", "held", "last", "seq", "trusted")

    def __init__(self, seq: int, now: float, trusted: bool, data: bytes) -> None:
        self.seq = seq
        self.good = 1
        self.last = now
        self.trusted = trusted
        self.held = [data]


class SourceGuard:
    def __init__(self, sdp_address: Address | None, config: GuardConfig | None = None) -> None:
        self.config = config or GuardConfig()
        self.sdp_address = sdp_address
        self.source: Address | None = None  # the accepted source's address
        self.ssrc: int | None = None  # and its SSRC
        self.candidates: dict[tuple[Address, int], _Candidate] = {}
        self.dropped = 0
        self.promotions = 0
        self._window_end: float | None = None
        self._released: list[bytes] = []

    def restart(self, now: float | None, sdp_address: Address | None = None) -> None:
        """Media start or a new answer: the latch window opens again; a new SDP address
        forgets the accepted source (the peer moved: its SDP wins)."""
        window = self.config.latch_window
        self._window_end = None if now is None else now + window
        if sdp_address is not None and sdp_address != self.sdp_address:
            self.sdp_address = sdp_address
            self.source = None
            self._drop_candidates(list(self.candidates))

    # ------------------------------------------------------------------ per packet
    def admit(
        self, data: bytes, addr: Address, ssrc: int, seq: int, now: float, last: float | None
    ) -> int:
        """ACCEPT, HOLD or DROP one RTP packet; ``last`` is when the accepted source last sent."""
        if addr == self.source and ssrc == self.ssrc:
            return ACCEPT
        if self._window_end is None:
            self._window_end = now + self.config.latch_window
        if self.source is None and addr == self.sdp_address:
            self._accept(addr, ssrc)
            return ACCEPT
        trusted = addr == self.source or addr == self.sdp_address
        if not trusted and not self._may_latch(now, last):
            self.dropped += 1
            return DROP
        key = (addr, ssrc)
        c = self.candidates.get(key)
        if c is None:
            if not self._make_room(trusted):
                self.dropped += 1
                return DROP
            c = self.candidates[key] = _Candidate(seq, now, trusted, data)
        elif seq == (c.seq + 1) & 0xFFFF:
            c.good += 1
            c.seq = seq
            c.last = now
            c.held.append(data)
        else:  # A.1: out of sequence, probation starts over from this packet
            self.dropped += len(c.held)
            c.seq = seq
            c.good = 1
            c.last = now
            c.held = [data]
        if c.good < self.config.probation:
            return HOLD
        del self.candidates[key]
        self._released = c.held[:-1]
        self.promotions += 1
        self._accept(addr, ssrc)
        return ACCEPT

    def take_released(self) -> list[bytes]:
        """The held packets of a source just promoted (oldest first; the current one not)."""
        out, self._released = self._released, []
        return out

    def _may_latch(self, now: float, last: float | None) -> bool:
        if self.source is None:
            return self._window_end is not None and now < self._window_end
        return last is None or now - last >= self.config.silence

    def _accept(self, addr: Address, ssrc: int) -> None:
        self.source = addr
        self.ssrc = ssrc

    def _make_room(self, trusted: bool) -> bool:
        table = self.candidates
        if len(table) < self.config.max_sources:
            return True
        if not trusted:
            return False
        foreign = [k for k, c in table.items() if not c.trusted]
        pool = foreign or list(table)
        self._drop_candidates([min(pool, key=lambda k: table[k].last)])
        return True

    def _drop_candidates(self, keys: list[tuple[Address, int]]) -> None:
        for key in keys:
            c = self.candidates.pop(key, None)
            if c is not None:
                self.dropped += len(c.held)

    # ------------------------------------------------------------------ RTCP, expiry
    def trusts_host(self, host: str) -> bool:
        """RTCP is taken only from the host of the accepted source or of the SDP address."""
        src, sdp_addr = self.source, self.sdp_address
        return (src is not None and src[0] == host) or (
            sdp_addr is not None and sdp_addr[0] == host
        )

    def on_bye(self, ssrc: int) -> None:
        self._drop_candidates([k for k in self.candidates if k[1] == ssrc])

    def expire(self, now: float, stats: ReceiveStatistics) -> float | None:
        """Forget silent candidates and the statistics of old sources (not the accepted one);
        returns when the next of what is left may expire."""
        timeout = self.config.timeout
        self._drop_candidates([k for k, c in self.candidates.items() if now - c.last >= timeout])
        stats.expire(now, timeout, keep=self.ssrc)
        lasts = [c.last for c in self.candidates.values()]
        lasts += [
            s.last_arrival
            for s in stats.sources.values()
            if s.ssrc != self.ssrc and s.last_arrival is not None
        ]
        return min(lasts) + timeout if lasts else None
