"""A call's media settings, and what the media side may ask of the call manager."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from wcs.media.dtmf import DtmfKey, DtmfSettings
from wcs.rtp.source_guard import GuardConfig
from wcs.sdp.sdes import DEFAULT_SUITES

RTP_ACTIVITY_FAILED = "Failed by RTP activity"
DIRECT_RTMP_PREFIX = "sip_rtmp_"  # internal stream of a call with rtmpUrl but no toStream


class CallControl(Protocol):
    """What the media side may ask of the call manager."""

    def fail(self, call_id: str, info: str) -> bool: ...
    def terminate(self, call_id: str) -> bool: ...
    def send_info(self, call_id: str, content_type: str, body: bytes) -> bool: ...
    def dtmf_received(self, call_id: str, key: DtmfKey) -> None: ...


@dataclass(frozen=True, slots=True)
class MediaConfig:
    init_packets: bool = True
    activity_timeout: float = 0.0
    jitter_latency: float | None = None  # seconds; None: no jitter buffer
    reorder_latency: float | None = 0.06  # the frame path's reordering (without jitter buffer)
    publish_early_media: bool = False
    generate_av: str = "none"
    send_silence: bool = True
    silence_early: float = 0.0  # s a silence slot may leave early on another wake-up
    dtmf: DtmfSettings = field(default_factory=DtmfSettings)
    srtp: str = "auto"  # sip_srtp: off, optional, mandatory; auto: optional over TLS only
    srtp_suites: tuple[str, ...] = DEFAULT_SUITES  # offered, in this order
    srtp_over_plaintext: bool = False  # SDES keys in SDP over UDP/TCP SIP (readable!)
    source_guard: GuardConfig = field(default_factory=GuardConfig)  # who feeds the stream
