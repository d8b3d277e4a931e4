"""SDES-SRTP keying of one call (RFC 4568): keys in our offer, the peer's key from its answer
or re-offer, and the ``sip_srtp`` policy.

- ``off``: plain RTP/AVP, any ``a=crypto`` of the peer is ignored (an ``RTP/SAVP`` re-offer is
  refused: we cannot honour it);
- ``optional`` (best effort): we offer ``RTP/AVP`` with a key per suite; an answer with
  ``a=crypto`` gives SRTP, one without it plain RTP on that m-line. Not ``RTP/SAVP``: a
  plain-only peer (baresip without mediaenc, measured) answers that with 488, so nothing
  would be "optional" about it;
- ``mandatory``: we offer ``RTP/SAVP``; an answer or re-offer without a usable ``a=crypto``
  is refused.

Pure: descriptions in, :class:`SrtpKeys` (kind -> suite and both keys) out; the media edge
builds the SRTP contexts from them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from wcs import sdp
from wcs.sdp import sdes

log = logging.getLogger(__name__)

POLICIES = ("off", "optional", "mandatory")


@dataclass(frozen=True, slots=True)
class SrtpKeys:
    """One m-line's SRTP: the suite, our (sending) key and the peer's key; keys hidden."""

    suite: str
    tx: bytes = field(repr=False)
    rx: bytes = field(repr=False)


class SdesKeying:
    def __init__(
        self,
        call_id: str,
        policy: str = "off",
        suites: tuple[str, ...] = sdes.DEFAULT_SUITES,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"sip_srtp must be one of {', '.join(POLICIES)}, not {policy!r}")
        unknown = [s for s in suites if s not in sdes.SUITES]
        if unknown or not suites:
            raise ValueError(f"unknown SRTP suites: {unknown or 'none given'}")
        self.call_id = call_id
        self.policy = policy
        self.suites = suites
        self._offered: dict[str, list[sdes.SdesKey]] = {}  # kind -> our keys, tag = index + 1

    def decorate_offer(self, offer: sdp.SessionDescription) -> None:
        """Turn our plain offer into an SRTP one (keys kept across re-offers of the dialog)."""
        if self.policy == "off":
            return
        for m in offer.media:
            if not m.is_rtp or m.rejected:
                continue
            if self.policy == "mandatory":
                m.proto = sdes.SECURE_PROTOS.get(m.proto, m.proto)
            keys = self._offered.get(m.kind)
            if keys is None:
                keys = self._offered[m.kind] = [sdes.new_key(s) for s in self.suites]
            m.crypto = [sdes.crypto_line(i + 1, k) for i, k in enumerate(keys)]

    def on_answer(
        self, offer: sdp.SessionDescription, answer: sdp.SessionDescription
    ) -> dict[str, SrtpKeys]:
        """The keys the answer to our offer chose; :class:`sdes.SdesError` refuses it."""
        out: dict[str, SrtpKeys] = {}
        if self.policy == "off":
            return out
        for ours, theirs in zip(offer.media, answer.media, strict=True):
            if ours.rejected or theirs.rejected or not ours.crypto:
                continue
            if not theirs.crypto:
                if self.policy == "mandatory":
                    raise sdes.SdesError(
                        f"SRTP is mandatory and the answer's {theirs.kind} has no a=crypto"
                    )
                log.info("call %s: %s answered without SRTP: plain RTP", self.call_id, ours.kind)
                continue
            if len(theirs.crypto) != 1:
                raise sdes.SdesError(f"the answer's {theirs.kind} has more than one a=crypto")
            chosen = theirs.crypto[0]
            offered = self._offered.get(ours.kind, [])
            if not 1 <= chosen.tag <= len(offered):
                raise sdes.SdesError(f"the answer chose crypto tag {chosen.tag}, never offered")
            mine = offered[chosen.tag - 1]
            if chosen.suite != mine.suite:
                raise sdes.SdesError(
                    f"the answer changed the suite of tag {chosen.tag} to {chosen.suite[:40]!r}"
                )
            theirs_key = sdes.parse_crypto(chosen, self.suites)
            out[ours.kind] = SrtpKeys(mine.suite, mine.key, theirs_key.key)
        return out

    def answer(
        self,
        offer: sdp.SessionDescription,
        answer: sdp.SessionDescription,
        current: dict[str, SrtpKeys],
    ) -> dict[str, SrtpKeys]:
        """Key our ``answer`` to a re-offer (adds its ``a=crypto``); :class:`sdes.SdesError`:
        refuse it (488). A key the peer keeps keeps ours too; a new one gets a new one."""
        out: dict[str, SrtpKeys] = {}
        for offered, answered in zip(offer.media, answer.media, strict=True):
            if offered.rejected or answered.rejected or not offered.is_rtp:
                continue
            if not offered.crypto or self.policy == "off":
                if self.policy == "mandatory" or sdes.is_secure(offered.proto):
                    raise sdes.SdesError(
                        f"the re-offer's {offered.kind} ({offered.proto}) cannot be keyed: "
                        f"sip_srtp is {self.policy}"
                    )
                continue
            tag, theirs = self._pick(offered.crypto)
            running = current.get(offered.kind)
            if running is not None and running.suite == theirs.suite and running.rx == theirs.key:
                mine = sdes.SdesKey(running.suite, running.tx)
            else:
                mine = sdes.new_key(theirs.suite)
            answered.crypto = [sdes.crypto_line(tag, mine)]
            out[offered.kind] = SrtpKeys(mine.suite, mine.key, theirs.key)
        return out

    def _pick(self, lines: list[sdp.Crypto]) -> tuple[int, sdes.SdesKey]:
        """The first offered line we can use, in our order of suites."""
        errors: list[str] = []
        usable: list[tuple[int, sdes.SdesKey]] = []
        for line in lines:
            try:
                usable.append((line.tag, sdes.parse_crypto(line, self.suites)))
            except sdes.SdesError as exc:
                errors.append(str(exc))
        if not usable:
            raise sdes.SdesError("no usable a=crypto: " + "; ".join(errors))
        return min(usable, key=lambda u: self.suites.index(u[1].suite))
