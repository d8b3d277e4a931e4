"""A proposed hot-path change, applied at run time so its effect can be measured first.

``direct_srtp``: ``SrtpContext.protect`` calls libsrtp through pylibsrtp's cffi binding with
a buffer and length cell made once per context, instead of ``pylibsrtp.Session.protect``
(which allocates a length cell and copies twice per call). It relies on pylibsrtp
internals, so it stays a bench-only patch until pylibsrtp offers it. (The two other changes
measured here first, a connected socket for the selected ICE pair and a NACK history of
source packets, are now in wcs/webrtc/ice.py and sender.py.)
"""

from __future__ import annotations

import struct
from typing import Any

import pylibsrtp
from pylibsrtp._binding import ffi, lib

from wcs.rtp import srtp

_HDR = struct.Struct("!BBHII")
_SRC = struct.Struct("!HII")
_applied: list[str] = []


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


ALL = {"no_gc": no_gc, "direct_srtp": direct_srtp, "no_aioice_consent": no_aioice_consent}


def apply(names: list[str]) -> list[str]:
    for name in names:
        ALL[name]()
    return list(_applied)
