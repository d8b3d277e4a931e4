"""When and how to ask a SIP peer for a keyframe (sans-IO, injected clock).

The ladder: RTCP PLI first (RFC 4585), then FIR (RFC 5104) if no keyframe came, then SIP
INFO ``picture_fast_update`` (RFC 5168 XML) for peers that ignore RTCP feedback; it starts
over at PLI after a keyframe. Requests are at least ``min_interval`` apart, so a flood of
viewers or losses costs the peer one request per interval.
"""

from __future__ import annotations

PLI = "pli"
FIR = "fir"
INFO = "info"
LADDER = (PLI, FIR, INFO)

PICTURE_FAST_UPDATE = (
    b'<?xml version="1.0" encoding="utf-8" ?>\r\n'
    b"<media_control><vc_primitive><to_encoder><picture_fast_update/>"
    b"</to_encoder></vc_primitive></media_control>\r\n"
)
MEDIA_CONTROL_TYPE = "application/media_control+xml"


class KeyframeRequester:
    __slots__ = ("_last", "_step", "min_interval", "sent")

    def __init__(self, min_interval: float = 1.0) -> None:
        self.min_interval = min_interval
        self._last: float | None = None
        self._step = 0
        self.sent = {PLI: 0, FIR: 0, INFO: 0}

    def request(self, now: float) -> str | None:
        """The request to send now (PLI, FIR or INFO), or None while rate-limited."""
        if self._last is not None and now - self._last < self.min_interval:
            return None
        self._last = now
        kind = LADDER[min(self._step, len(LADDER) - 1)]
        self._step += 1
        if self._step >= len(LADDER):  # INFO did not help either: go round again
            self._step = 0
        self.sent[kind] += 1
        return kind

    def on_keyframe(self) -> None:
        self._step = 0
