"""A call's media settings, and what the media side may ask of the call manager."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from wcs.rtp.source_guard import GuardConfig

RTP_ACTIVITY_FAILED = "Failed by RTP activity"
DIRECT_RTMP_PREFIX = "sip_rtmp_"  # internal stream of a call with rtmpUrl but no toStream


class CallControl(Protocol):
    """What the media side may ask of the call manager."""

    def fail(self, call_id: str, info: str) -> bool: ...
    def terminate(self, call_id: str) -> bool: ...
    def send_info(self, call_id: str, content_type: str, body: bytes) -> bool: ...


@dataclass(frozen=True, slots=True)
class MediaConfig:
    init_packets: bool = True
    activity_timeout: float = 0.0
    jitter_latency: float | None = None  # seconds; None: no jitter buffer
    publish_early_media: bool = False
    generate_av: str = "none"
    send_silence: bool = True
    source_guard: GuardConfig = field(default_factory=GuardConfig)  # who feeds the stream
