"""The one exception type of the SIP parsers."""

from __future__ import annotations


class SipParseError(ValueError):
    """Malformed SIP text; the message says what is wrong."""
