"""Light LL-HLS / HLS clients for load tests: ``python -m tests.peers.hls_clients``.

Each client holds one keep-alive HTTP/1.1 connection and plays the live edge like a player
does, without decoding:

* ``parts`` (LL-HLS): blocking reload on the preload hint (``_HLS_msn``/``_HLS_part``), then
  every new part listed;
* ``segments`` (HLS with blocking reload): ``_HLS_msn`` of the next segment, then every new
  segment.

It reports, per media sequence number from the first segment it saw start to the last that
completed, a digest of the segment's bytes (``parts``: its parts concatenated, which is the
segment). The caller checks that every client has every segment and that both kinds agree.
Output: one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_PART = re.compile(r'#EXT-X-PART:.*URI="part(\d+)\.(\d+)\.m4s"')
_HINT = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part(\d+)\.(\d+)\.m4s"')
_MAP = re.compile(r'#EXT-X-MAP:URI="(init\d+\.mp4)"')
_SEGMENT = re.compile(r"^seg(\d+)\.m4s$", re.M)


class HttpFailed(RuntimeError):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection (Content-Length bodies, GET only)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.requests = 0

    async def get(self, path: str) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)
        }
        if "content-length" not in headers:
            raise HttpFailed(f"{path}: no Content-Length")
        body = await self._reader.readexactly(int(headers["content-length"]))
        self.requests += 1
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


@dataclass
class Client:
    mode: str
    base: str  # "/{stream}/"
    playlist: str  # "/{stream}/{stream}.m3u8"
    conn: Connection
    first: int = -1
    parts: dict[int, dict[int, bytes]] = field(default_factory=dict)
    segments: dict[int, str] = field(default_factory=dict)
    part_counts: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    async def fetch(self, path: str) -> bytes:
        status, body = await self.conn.get(path)
        if status != 200:
            raise HttpFailed(f"{path}: {status}")
        return body

    async def run(self, deadline: float) -> None:
        text = (await self.fetch(self.playlist)).decode()
        for init in dict.fromkeys(_MAP.findall(text)):
            await self.fetch(self.base + init)
        hint = _hint(text)
        done = [int(m) for m in _SEGMENT.findall(text)]
        # The first segment seen from its start: the open one if it has no part yet.
        self.first = hint[0] if hint[1] == 0 else hint[0] + 1
        wanted = max(done, default=self.first - 1) + 1
        while time.monotonic() < deadline:
            if self.mode == "parts":
                text = (
                    await self.fetch(f"{self.playlist}?_HLS_msn={hint[0]}&_HLS_part={hint[1]}")
                ).decode()
                await self._new_parts(text)
            else:
                text = (await self.fetch(f"{self.playlist}?_HLS_msn={wanted}")).decode()
                for msn in sorted(int(m) for m in _SEGMENT.findall(text)):
                    if msn >= self.first and msn not in self.segments:
                        self.segments[msn] = _digest(await self.fetch(f"{self.base}seg{msn}.m4s"))
                    wanted = max(wanted, msn + 1)
            hint = _hint(text)

    async def _new_parts(self, text: str) -> None:
        listed: dict[int, int] = {}
        for m, i in ((int(a), int(b)) for a, b in _PART.findall(text)):
            listed[m] = max(listed.get(m, 0), i + 1)
            got = self.parts.setdefault(m, {})
            if m >= self.first and i not in got:
                got[i] = await self.fetch(f"{self.base}part{m}.{i}.m4s")
        for msn in (int(m) for m in _SEGMENT.findall(text)):
            got = self.parts.get(msn, {})
            new = msn >= self.first and msn not in self.segments and msn in listed
            if new and sorted(got) == list(range(listed[msn])):
                self.segments[msn] = _digest(b"".join(got[i] for i in sorted(got)))
                self.part_counts[msn] = len(got)
                del self.parts[msn]


def _hint(text: str) -> tuple[int, int]:
    m = _HINT.search(text)
    if m is None:
        raise HttpFailed("playlist without EXT-X-PRELOAD-HINT")
    return int(m.group(1)), int(m.group(2))


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


async def main(url: str, clients: int, seconds: float, parts_every: int) -> dict[str, object]:
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    base = u.path.rsplit("/", 1)[0] + "/"
    all_clients = [
        Client(
            "parts" if i % parts_every == 0 else "segments", base, u.path, Connection(host, port)
        )
        for i in range(clients)
    ]
    deadline = time.monotonic() + seconds

    async def one(c: Client) -> None:
        try:
            await c.run(deadline)
        except (OSError, asyncio.IncompleteReadError, HttpFailed, ValueError) as exc:
            c.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            c.conn.close()

    await asyncio.gather(*(one(c) for c in all_clients))
    return {
        "clients": [
            {
                "mode": c.mode,
                "first": c.first,
                "segments": {str(k): v for k, v in sorted(c.segments.items())},
                "parts": {str(k): v for k, v in sorted(c.part_counts.items())},
                "requests": c.conn.requests,
                "errors": c.errors,
            }
            for c in all_clients
        ]
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("url", help="http://HOST:PORT/{stream}/{stream}.m3u8")
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--parts-every", type=int, default=2, help="every Nth client plays parts")
    args = ap.parse_args()
    result = asyncio.run(main(args.url, args.clients, args.seconds, args.parts_every))
    print(json.dumps(result))
