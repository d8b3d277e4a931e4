"""The one exception type of the SIP parsers."""

from __future__ import annotations

from typing import Any


class SipParseError(ValueError):
    """Malformed SIP text; the message says what is wrong.

    `partial`: the message as far as it could be parsed when only a check after parsing
    failed (missing mandatory header, bad CSeq, ...), so a UA can still build its 400;
    None when the text itself could not be read.
    """

    def __init__(self, message: str, partial: Any = None) -> None:
        super().__init__(message)
        self.partial = partial
