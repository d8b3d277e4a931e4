"""Builds each call's :class:`CallMedia` (the composition root makes one factory)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from wcs.app.media.config import DIRECT_RTMP_PREFIX, CallControl, MediaConfig
from wcs.app.media.dtls_srtp import DtlsSrtp
from wcs.app.media.edge import CallMedia
from wcs.app.media.sdes import SdesKeying
from wcs.app.streams import StreamHub
from wcs.rtp.ports import PortAllocator
from wcs.webrtc.certificate import Certificate

if TYPE_CHECKING:
    from wcs.app.call import Call

log = logging.getLogger(__name__)


class CallMediaFactory:
    def __init__(
        self,
        ports: PortAllocator,
        public_ip: str,
        hub: StreamHub | None = None,
        config: MediaConfig | None = None,
        control: CallControl | None = None,
        *,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.ports = ports
        self.public_ip = public_ip
        self.hub = hub
        self.config = config or MediaConfig()
        self.control = control  # set after the CallManager exists (it needs this factory)
        self.loop = loop
        self.created: Callable[[CallMedia], None] | None = None  # test/diagnostic hook
        self.certificate: Certificate | None = None  # our DTLS identity toward SIP peers

    def __call__(self, call: Call) -> CallMedia:
        r = call.request
        media = CallMedia(
            r.call_id,
            self.ports,
            self.public_ip,
            r.has_audio,
            r.has_video,
            loop=self.loop,
            hub=self.hub,
            # Direct SIP-as-RTMP without toStream still needs a stream to push from.
            stream_name=r.to_stream or (f"{DIRECT_RTMP_PREFIX}{r.call_id}" if r.rtmp_url else None),
            app_key=r.app_key,
            control=self.control,
            config=self.config,
            keying=self.keying(call),
            dtls=self.dtls(call),
            name_in_use=r.takes_over is not None,
        )
        if self.created is not None:
            self.created(media)
        return media

    def keying(self, call: Call) -> SdesKeying:
        """The call's SDES policy: its ``sipSrtp``, else ``sip_srtp``; ``auto`` means
        optional over TLS and off over UDP/TCP. SDES over plaintext SIP sends the keys in
        clear: only with ``sip_srtp_over_plaintext``, and with a warning."""
        r = call.request
        transport = r.account.transport.lower()
        policy = self.policy(call)
        if policy == "dtls":
            return SdesKeying(r.call_id)
        if policy != "off" and transport != "tls":
            if not self.config.srtp_over_plaintext:
                raise ValueError(
                    f"SRTP {policy} over {transport.upper()}: SDES keys would cross the network "
                    "in clear (setting sip_srtp_over_plaintext allows it)"
                )
            log.warning(
                "call %s: SDES keys sent over plaintext SIP (%s): anyone on the path can "
                "decrypt the media",
                r.call_id,
                transport.upper(),
            )
        return SdesKeying(r.call_id, policy, self.config.srtp_suites)

    def policy(self, call: Call) -> str:
        policy = call.request.sip_srtp or self.config.srtp
        if policy == "auto":
            return "optional" if call.request.account.transport.lower() == "tls" else "off"
        return policy

    def dtls(self, call: Call) -> DtlsSrtp | None:
        """DTLS-SRTP (``sipSrtp`` "dtls"): keys from a handshake with the peer whose
        certificate its SDP names; over plaintext SIP that SDP can be altered (a warning)."""
        if self.policy(call) != "dtls":
            return None
        if call.request.account.transport.lower() != "tls":
            log.warning(
                "call %s: DTLS-SRTP fingerprints over plaintext SIP can be altered on the path",
                call.request.call_id,
            )
        if self.certificate is None:
            self.certificate = Certificate.generate("wcs-sip")
        return DtlsSrtp(call.request.call_id, self.certificate)
