"""A fake stream source and a tiny RTSP client side for the connection core's tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.unit.hls.helpers import PPS, SPS
from wcs.rtsp import RtspConnection, RtspTrack, StreamDescription
from wcs.rtsp.events import RtspEvent

VIDEO = RtspTrack("video", "H264", 90000, 102, fmtp="packetization-mode=1", sps=SPS, pps=PPS)
AUDIO = RtspTrack("audio", "PCMU", 8000, 0)
URL = "rtsp://127.0.0.1:8554/cam"


@dataclass
class FakeSource:
    streams: dict[str, StreamDescription] = field(
        default_factory=lambda: {
            "cam": StreamDescription("cam", (VIDEO, AUDIO)),
            "voice": StreamDescription("voice", (AUDIO,)),
        }
    )

    def describe(self, name: str) -> StreamDescription | None:
        return self.streams.get(name)

    def rtp_info(self, name: str, track: int) -> tuple[int, int] | None:
        return (1000 + track, 50000 + track) if name in self.streams else None


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def request(method: str, uri: str, cseq: int | None, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {uri} RTSP/1.0"]
    if cseq is not None:
        lines.append(f"CSeq: {cseq}")
    lines += headers
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse_replies(data: bytes) -> list[Reply]:
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0].startswith("RTSP/1.0 "), lines[0]
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(": ")
            headers[k.lower()] = v
        n = int(headers.get("content-length", "0"))
        out.append(Reply(status, headers, rest[:n]))
        data = rest[n:]
    return out


def ask(conn: RtspConnection, raw: bytes, now: float = 0.0) -> Reply:
    conn.receive_data(raw, now)
    replies = parse_replies(conn.data_to_send(now))
    assert len(replies) == 1
    return replies[0]


def drain(conn: RtspConnection) -> list[RtspEvent]:
    out = []
    while (e := conn.next_event()) is not None:
        out.append(e)
    return out


def make(**kwargs: object) -> RtspConnection:
    ids = iter(f"sess{i}" for i in range(100))
    return RtspConnection(
        FakeSource(),
        "10.0.0.9",
        "10.0.0.1",
        session_ids=lambda: next(ids),
        **kwargs,  # type: ignore[arg-type]
    )
