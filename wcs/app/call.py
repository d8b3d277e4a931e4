"""A call as the application sees it: its REST request, its WCS status and what it owns.

:class:`Call` (one per ``callId``) and the protocols of its media session; the manager that
drives calls through their statuses is :mod:`wcs.app.calls`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from wcs.app.call_dtmf import ReceivedKeys
from wcs.media.h264.nal import AccessUnit
from wcs.media.sound import SoundClip
from wcs.rtp.outgoing_audio import AudioFormat, PcmSource
from wcs.sip.ua import Account

NORMAL_CLEARING = "Normal call clearing"
AUTH_FAILED = "Authentication failed"


class CallStatus(enum.StrEnum):
    PENDING = "PENDING"
    TRYING = "TRYING"
    RING = "RING"
    SESSION_PROGRESS = "SESSION_PROGRESS"
    BUSY = "BUSY"
    ESTABLISHED = "ESTABLISHED"
    HOLD = "HOLD"
    FINISH = "FINISH"
    FAILED = "FAILED"


FINISHED_KEPT = 256  # ended calls remembered for `/call/find` with `finished: true`

FINAL_STATUSES = frozenset({CallStatus.BUSY, CallStatus.FINISH, CallStatus.FAILED})


class MediaSession(Protocol):
    """What a call needs from its media side (RTP ports, SDP, stream publication)."""

    def offer(self) -> bytes: ...
    def on_remote_sdp(self, sdp: bytes, final: bool) -> None: ...
    def answer_remote_offer(self, sdp: bytes | None) -> tuple[bytes | None, bool]:
        """Answer for a re-INVITE/UPDATE offer (None: can't) and whether it puts us on hold."""
        ...

    def close(self, reason: str) -> None: ...
    def send_dtmf(self, digits: str, tone_ms: int | None = None) -> None: ...
    def play_sound(self, clip: SoundClip, loop: bool) -> None: ...
    def stop_sound(self) -> bool: ...
    def hold_offer(self, hold: bool) -> bytes | None: ...
    def publish_now(self) -> None:
        """Publish the stream if it was not yet (its name was still taken)."""
        ...

    def audio_format(self) -> AudioFormat:
        """What our audio encoder sends and takes (DtmfError: no audio we can send on)."""
        ...

    def inject_audio(self, source: PcmSource | None) -> PcmSource | None:
        """A live source in place of silence (None: back to silence); the one replaced."""
        ...

    def inject_video(
        self, codec: str, fmtp: str | None, on_keyframe_wanted: Callable[[], None]
    ) -> bool:
        """Forward a source's video (False: the call has none the source fits)."""
        ...

    def stop_video(self) -> None: ...
    def forward_video(self, data: bytes | AccessUnit) -> None:
        """A packet of the source (re-stamped) or an H.264 access unit (packetized)."""
        ...


class IncomingMedia(MediaSession, Protocol):
    """What an incoming call needs on top: answer the INVITE's offer, start once answered."""

    def answer_first_offer(self, sdp: bytes) -> bytes | None: ...
    def start_answered(self) -> None: ...
    def rename_stream(self, name: str) -> bool: ...
    def hold_stream(self, held: bool) -> None: ...


MediaFactory = Callable[["Call"], MediaSession]


@dataclass(slots=True)
class CallRequest:
    """The validated fields of ``/call/startup``."""

    call_id: str
    callee: str
    account: Account
    register_required: bool = False
    to_stream: str | None = None
    rtmp_url: str | None = None
    rtmp_stream: str | None = None
    has_audio: bool = True
    has_video: bool = True
    app_key: str = "defaultApp"
    visible_name: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    incoming: bool = False  # the peer called us (wcs.app.inbound_calls)
    caller: str | None = None  # incoming: the From user
    record: bool = False  # incoming: record the stream (the dispatch's ``record``)
    answer_mode: str | None = None  # incoming: the dispatch's ``answer`` (auto, ring, hook)
    sip_srtp: str | None = None  # our extension: off, optional, mandatory; None: sip_srtp
    # A call the peer's REFER asked for: it takes over the stream name of this call, which
    # still publishes it until the new call is answered (wcs.app.call_referred).
    takes_over: str | None = None


@dataclass(slots=True)
class Call:
    request: CallRequest
    status: CallStatus = CallStatus.PENDING
    sip_status: int | None = None
    info: str | None = None
    reg_id: str | None = None
    invited: bool = False
    media: MediaSession | None = None
    created: float = field(default_factory=time.time)
    established_at: float | None = None
    # Status of the call's RTMP push (direct SIP-as-RTMP), looked up when the object is shown.
    rtmp_status: Callable[[], str | None] | None = field(default=None, repr=False)
    dtmf: ReceivedKeys = field(default_factory=ReceivedKeys, repr=False)
    dtmf_error: str | None = None  # our last INFO key refused (our extension in /call/find)
    hold_pending: bool | None = None  # our re-INVITE to hold (True) / unhold (False) is out
    transfer: dict[str, Any] | None = None  # our REFER's target and last step
    injected: str | None = None  # the stream sent into the call (/call/inject_stream)

    @property
    def call_id(self) -> str:
        return self.request.call_id
