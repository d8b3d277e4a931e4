"""SRTP at the socket edge of a call (DESIGN: secure media is a layer of the RTP edge).

The edge unprotects each datagram before the core sees it and protects each datagram the
core sends; the core sees plain RTP/RTCP. A datagram failing authentication (or replayed)
is counted (per m-line, and in ``wcs_srtp_failures_total``) and dropped; the call goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import pylibsrtp

from wcs.app.media.dtls_srtp import DtlsKeys
from wcs.app.media.sdes import SrtpKeys
from wcs.observability import metrics
from wcs.rtp.srtp import SrtpContext

log = logging.getLogger(__name__)


def is_rtcp(data: bytes) -> bool:
    """RTCP under rtcp-mux: packet types 192-223 in the second byte (RFC 5761 §4)."""
    return len(data) > 1 and 192 <= data[1] <= 223


class MediaProtection:
    """The SRTP contexts of a call's m-lines (kind -> context); none: plain RTP.

    SDES keys one context per m-line for SRTP and SRTCP. DTLS-SRTP without rtcp-mux keys
    the RTCP port by its own association (``rtcp_contexts``); until a component is keyed
    (``pending``) it sends and accepts nothing.
    """

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.contexts: dict[str, SrtpContext] = {}
        self.rtcp_contexts: dict[str, SrtpContext] = {}
        self.pending: set[str] = set()  # DTLS-SRTP m-lines: nothing in clear, ever
        self.dtls_profile: str | None = None
        self._keys: dict[str, SrtpKeys] = {}
        self.auth_failures: dict[str, int] = {}
        self.protect_failures = 0

    @property
    def profile(self) -> str | None:
        """The suite in use (the first protected m-line's), None for plain RTP."""
        for keys in self._keys.values():
            return keys.suite
        return self.dtls_profile

    @property
    def active(self) -> bool:
        """Anything to apply at the edge (SRTP, or DTLS-SRTP being keyed)?"""
        return bool(self.contexts or self.pending)

    def install_dtls(self, keys: DtlsKeys, shared: bool) -> None:
        """A DTLS-SRTP association is up: its keys protect its component from now on;
        ``shared``: it is the m-line's only one (rtcp-mux), for RTCP too."""
        kind = keys.kind
        ctx = SrtpContext(keys.profile, keys.local_key, keys.remote_key)
        if keys.rtcp or shared:
            self.rtcp_contexts[kind] = ctx
        if not keys.rtcp:
            self.contexts[kind] = ctx
        profile, rtcp = keys.profile, keys.rtcp
        self.dtls_profile = profile
        self.auth_failures.setdefault(kind, 0)
        log.info("call %s: %s %s DTLS-SRTP %s", self.call_id, kind, "RTCP" if rtcp else "RTP",
                 profile)  # fmt: skip

    def install(self, keys: Mapping[str, SrtpKeys]) -> None:
        """Use ``keys`` from now on; an m-line whose keys did not change keeps its context
        (and with it the rollover counter and replay window)."""
        for kind in list(self.contexts):
            if kind not in keys:
                del self.contexts[kind], self.rtcp_contexts[kind], self._keys[kind]
        for kind, k in keys.items():
            if self._keys.get(kind) == k:
                continue
            self.contexts[kind] = self.rtcp_contexts[kind] = SrtpContext(k.suite, k.tx, k.rx)
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
        rtcp = rtcp or is_rtcp(data)
        ctx = self.rtcp_contexts.get(kind) if rtcp else self.contexts.get(kind)
        if ctx is None:
            return None if kind in self.pending else data
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
