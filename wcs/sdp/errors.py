"""The one exception the SDP package raises for bad input."""

from __future__ import annotations


class SdpError(ValueError):
    """Malformed or unusable SDP (maps to SIP 488 Not Acceptable Here)."""
