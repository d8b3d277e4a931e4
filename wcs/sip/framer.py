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
    cannot be framed any more (the connection should then be closed) and no message came
    before the bad bytes in this feed; when some did, they are returned and ``error`` is set
    (a valid request followed by garbage in one read still gets its answer)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.error: str | None = None

    def feed(self, data: bytes) -> list[bytes]:
        if self.error is not None:
            raise SipParseError(self.error)
        out: list[bytes] = []
        try:
            self._frame(data, out)
        except SipParseError as exc:
            self.error = str(exc)
            self._buf.clear()
            if not out:
                raise
        return out

    def _frame(self, data: bytes, out: list[bytes]) -> None:
        self._buf += data
        while True:
            # keep-alive CRLFs (and stray line ends) between messages
            i = 0
            while i < len(self._buf) and self._buf[i] in (0x0D, 0x0A):
                i += 1
            if i:
                del self._buf[:i]
            if not self._buf:
                return
            m = _HEAD_END.search(self._buf)
            if not m:
                if len(self._buf) > MAX_HEAD:
                    raise SipParseError("header block too large on stream")
                return
            head = bytes(self._buf[: m.start()])
            lm = _LENGTH.search(head)
            if lm is None:
                raise SipParseError("missing Content-Length on a stream transport")
            length = int(lm.group(1))
            if length > MAX_BODY:
                raise SipParseError(f"Content-Length {length} too large")
            total = m.end() + length
            if len(self._buf) < total:
                return
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]

    @property
    def pending(self) -> int:
        return len(self._buf)
