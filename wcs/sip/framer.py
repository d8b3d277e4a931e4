"""Sans-IO framing of SIP messages on a byte stream (RFC 3261 §18.3, RFC 5626 §3.5.1).

Messages are delimited by Content-Length; CRLF keep-alives between messages are dropped.
"""

from __future__ import annotations

import re

from .errors import SipParseError

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LENGTH = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*\r?$")

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024


class StreamFramer:
    """Feed bytes, get whole messages (as bytes). Raises SipParseError when the stream
    cannot be framed any more (the connection should then be closed)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            # keep-alive CRLFs (and stray line ends) between messages
            i = 0
            while i < len(self._buf) and self._buf[i] in (0x0D, 0x0A):
                i += 1
            if i:
                del self._buf[:i]
            if not self._buf:
                return out
            m = _HEAD_END.search(self._buf)
            if not m:
                if len(self._buf) > MAX_HEAD:
                    raise SipParseError("header block too large on stream")
                return out
            head = bytes(self._buf[: m.start()])
            lm = _LENGTH.search(head)
            if lm is None:
                raise SipParseError("missing Content-Length on a stream transport")
            length = int(lm.group(1))
            if length > MAX_BODY:
                raise SipParseError(f"Content-Length {length} too large")
            total = m.end() + length
            if len(self._buf) < total:
                return out
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]

    @property
    def pending(self) -> int:
        return len(self._buf)
