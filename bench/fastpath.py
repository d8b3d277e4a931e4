"""Diagnostic variants of the server, applied at run time so their effect can be measured.

``no_gc`` (no cyclic GC) and ``no_aioice_consent`` (aioice's own consent task stopped) tell
what a cost is made of; neither is a proposal. The hot-path changes first measured here (a
connected socket for the selected ICE pair, a NACK history of source packets, SRTP
protection in place without per-packet allocations) are in the product now:
wcs/webrtc/ice.py, wcs/webrtc/sender.py, wcs/rtp/srtp_seal.py.
"""

from __future__ import annotations

from typing import Any

_applied: list[str] = []


def no_gc() -> None:
    """Diagnostic only: no cyclic GC at all (tells whether GC pauses make the tail)."""
    import gc

    gc.disable()
    _applied.append("no_gc")


def no_aioice_consent() -> None:
    """Diagnostic only: aioice's consent checks (one request per viewer every 4-6 s) never
    start, to measure their share of an idle server's wake-ups. Not a product option: those
    checks are what RFC 7675 consent rests on (see bench/idle_wakeups.py). Since issue 11 the
    server stops aioice's task and sends its own checks on the shared 1 s grid, so this
    changes nothing there; it is kept for measuring older checkouts (``--wcs-root``)."""
    import aioice

    async def _no_checks(self: Any) -> None:
        return None

    aioice.Connection.query_consent = _no_checks  # type: ignore[method-assign]
    _applied.append("no_aioice_consent")


ALL = {"no_gc": no_gc, "no_aioice_consent": no_aioice_consent}


def apply(names: list[str]) -> list[str]:
    for name in names:
        ALL[name]()
    return list(_applied)
