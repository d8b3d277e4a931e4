"""RTSP 1.0 messages on a byte stream: requests in, responses out, ``$`` interleaved frames.

:class:`RequestReader` is incremental and bounded: a head longer than ``max_head`` bytes,
more than ``max_headers`` header lines, or a body over ``max_body`` bytes is a
:class:`RtspParseError` carrying the status to answer (the connection is then closed: we
cannot find the next message boundary). Interleaved binary frames (``$``, channel, 16-bit
length, data; RFC 2326 10.12) may come between requests: RTCP receiver reports of TCP
clients.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAX_HEAD = 8192
MAX_HEADERS = 64
MAX_BODY = 4096

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    451: "Parameter Not Understood",
    414: "Request-URI Too Large",
    453: "Not Enough Bandwidth",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    459: "Aggregate Operation Not Allowed",
    461: "Unsupported Transport",
    500: "Internal Server Error",
    501: "Not Implemented",
    505: "RTSP Version Not Supported",
    551: "Option not supported",
}

_FRAME = struct.Struct("!cBH")


class RtspParseError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class Request:
    method: str
    uri: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Interleaved:
    channel: int
    data: bytes


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def serialize(self) -> bytes:
        lines = [f"RTSP/1.0 {self.status} {REASONS.get(self.status, 'Unknown')}"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        if self.body:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


def interleaved_frame(channel: int, data: bytes) -> bytes:
    """One ``$`` frame; ValueError when it cannot be framed (channel or size)."""
    if not 0 <= channel <= 255 or len(data) > 0xFFFF:
        raise ValueError("interleaved frame out of range")
    return _FRAME.pack(b"$", channel, len(data)) + data


class RequestReader:
    def __init__(
        self, max_head: int = MAX_HEAD, max_headers: int = MAX_HEADERS, max_body: int = MAX_BODY
    ) -> None:
        self.max_head = max_head
        self.max_headers = max_headers
        self.max_body = max_body
        self._buf = bytearray()
        self._head: Request | None = None
        self._need = 0

    def feed(self, data: bytes) -> list[Request | Interleaved]:
        """Everything complete so far; RtspParseError on a message that breaks the rules."""
        self._buf += data
        out: list[Request | Interleaved] = []
        while True:
            item = self._next()
            if item is None:
                return out
            out.append(item)

    def _next(self) -> Request | Interleaved | None:
        buf = self._buf
        if self._head is not None:
            if len(buf) < self._need:
                return None
            req, self._head = self._head, None
            req.body = bytes(buf[: self._need])
            del buf[: self._need]
            return req
        while buf and buf[0] in (0x0D, 0x0A):  # stray line ends between messages
            del buf[:1]
        if not buf:
            return None
        if buf[0] == 0x24:  # '$'
            if len(buf) < 4:
                return None
            _, channel, size = _FRAME.unpack_from(buf)
            if len(buf) < 4 + size:
                return None
            frame = Interleaved(channel, bytes(buf[4 : 4 + size]))
            del buf[: 4 + size]
            return frame
        end = buf.find(b"\r\n\r\n")
        sep = 4
        if end < 0:
            end, sep = buf.find(b"\n\n"), 2
        if end < 0:
            if len(buf) > self.max_head:
                raise RtspParseError(400, "request head too long")
            return None
        if end > self.max_head:
            raise RtspParseError(400, "request head too long")
        head = bytes(buf[:end])
        del buf[: end + sep]
        req = self._parse_head(head)
        length = req.header("content-length")
        if length is not None:
            if not length.strip().isdigit():
                raise RtspParseError(400, "bad Content-Length")
            n = int(length)
            if n > self.max_body:
                raise RtspParseError(413, "body too large")
            if n:
                self._head, self._need = req, n
                return self._next()
        return req

    def _parse_head(self, head: bytes) -> Request:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            raise RtspParseError(400, "request head is not UTF-8") from None
        lines = text.replace("\r\n", "\n").split("\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not all(parts):
            raise RtspParseError(400, "malformed request line")
        method, uri, version = parts
        if not method.isascii() or not method.replace("_", "A").isalpha() or not method.isupper():
            raise RtspParseError(400, "malformed method")
        if not version.startswith("RTSP/"):
            raise RtspParseError(400, "not an RTSP request")
        if len(lines) - 1 > self.max_headers:
            raise RtspParseError(400, "too many header lines")
        headers: dict[str, str] = {}
        last: str | None = None
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and last is not None:  # folded continuation
                headers[last] += " " + line.strip()
                continue
            name, colon, value = line.partition(":")
            name = name.strip().lower()
            if not colon or not name or " " in name:
                raise RtspParseError(400, "malformed header line")
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
            last = name
        return Request(method, uri, version, headers)
