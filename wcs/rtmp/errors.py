"""The one error type of the RTMP package."""

from __future__ import annotations


class RtmpError(Exception):
    """Malformed RTMP/AMF0/FLV input or a protocol violation; the message says what."""
