"""SRTP at the socket edge of a call (DESIGN: secure media is a layer of the RTP edge).

The edge unprotects each datagram before the core sees it and protects each datagram the
core sends; the core sees plain RTP/RTCP. A datagram failing authentication (or replayed)
is counted (per m-line, and in ``wcs_srtp_failures_total``) and dropped; the call goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import pylibsrtp

from wcs.app.media.sdes import SrtpKeys
from wcs.observability import metrics
from wcs.rtp.srtp import SrtpContext

log = logging.getLogger(__name__)


def is_rtcp(data: bytes) -> bool:
    """RTCP under rtcp-mux: packet types 192-223 in the second byte (RFC 5761 §4)."""
    return len(data) > 1 and 192 <= data[1] <= 223


class MediaProtection:
    """The SRTP contexts of a call's m-lines (kind -> context); none: plain RTP."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.contexts: dict[str, SrtpContext] = {}
        self._keys: dict[str, SrtpKeys] = {}
        self.auth_failures: dict[str, int] = {}
        self.protect_failures = 0

    @property
    def profile(self) -> str | None:
        """The suite in use (the first protected m-line's), None for plain RTP."""
        for keys in self._keys.values():
            return keys.suite
        return None

    def install(self, keys: Mapping[str, SrtpKeys]) -> None:
        """Use ``keys`` from now on; an m-line whose keys did not change keeps its context
        (and with it the rollover counter and replay window)."""
        for kind in list(self.contexts):
            if kind not in keys:
                del self.contexts[kind]
                del self._keys[kind]
        for kind, k in keys.items():
            if self._keys.get(kind) == k:
                continue
            self.contexts[kind] = SrtpContext(k.suite, k.tx, k.rx)
            self._keys[kind] = k
            self.auth_failures.setdefault(kind, 0)
            log.info("call %s: %s SRTP %s", self.call_id, kind, k.suite)

    def unprotect(self, kind: str, data: bytes, rtcp: bool) -> bytes | None:
        """The plain datagram, or None (dropped and counted) when it fails authentication."""
        return self._through(kind, data, rtcp, inbound=True)

    def protect(self, kind: str, data: bytes, rtcp: bool) -> bytes | None:
        """The protected datagram; None for one libsrtp refuses: never sent in clear."""
        return self._through(kind, data, rtcp, inbound=False)

    def _through(self, kind: str, data: bytes, rtcp: bool, inbound: bool) -> bytes | None:
        ctx = self.contexts.get(kind)
        if ctx is None:
            return data
        rtcp = rtcp or is_rtcp(data)
        if inbound:
            out = self._apply(ctx.unprotect_rtcp if rtcp else ctx.unprotect, data)
            if out is None:
                self.auth_failures[kind] += 1
        else:
            out = self._apply(ctx.protect_rtcp if rtcp else ctx.protect, data)
            if out is None:
                self.protect_failures += 1
        return out

    @staticmethod
    def _apply(op: Callable[[bytes], bytes], data: bytes) -> bytes | None:
        try:
            return bytes(op(data))
        except pylibsrtp.Error:
            metrics.SRTP_FAILURES.inc()
            return None

    def snapshot(self, kind: str) -> dict[str, object] | None:
        keys = self._keys.get(kind)
        if keys is None:
            return None
        return {"suite": keys.suite, "authFailures": self.auth_failures.get(kind, 0)}
