"""States and failure reasons of a viewer peer (the WCS info strings)."""

from __future__ import annotations

from dataclasses import dataclass

NEW = "new"
CONNECTING = "connecting"  # answer given, ICE/DTLS under way
CONNECTED = "connected"  # DTLS done, SRTP keys in place: media flows
CLOSED = "closed"
FAILED = "failed"

ICE_ERROR = "Failed by ICE error"
ICE_TIMEOUT = "Failed by ICE timeout"
ICE_KEEP_ALIVE = "Failed by ICE keep alive"
DTLS_FINGERPRINT_ERROR = "Failed by DTLS fingerprint error"
DTLS_ERROR = "Failed by DTLS error"
NO_COMMON_CODECS = "No common codecs"


@dataclass(frozen=True, slots=True)
class PeerStateChanged:
    state: str  # one of the constants above
    info: str = ""  # a WCS info string for FAILED, free text otherwise
