"""Shared pieces of the HLS/RTSP playback tests: HTTP and RTSP clients, players, a recorder
of every playlist the server emits (each goes through wcs.hls.validate)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import tempfile
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.peers.procs import require_binary
from wcs.hls import validate

FFPROBE = require_binary("ffprobe", "ffmpeg")
GST = require_binary("gst-launch-1.0", "gstreamer1.0-tools")


class EmittedPlaylists:
    """Wraps the HLS edge's ``render``: every playlist the live server sends is kept and
    checked, in order, by :class:`wcs.hls.validate.PlaylistHistory`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import wcs.rest.hls_api as api

        self.texts: list[str] = []
        self.history = validate.PlaylistHistory()
        real = api.render

        def render(*args: Any, **kwargs: Any) -> str:
            text = real(*args, **kwargs)
            self.texts.append(text)
            self.history.add(text)
            return text

        monkeypatch.setattr(api, "render", render)


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    def go() -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(url, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()

    return await asyncio.to_thread(go)


async def raw_http(port: int, target: str) -> int:
    """A request line sent as is (no client-side path normalisation); the status."""

    def go() -> int:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return int(data.split(b" ", 2)[1])

    return await asyncio.to_thread(go)


async def rtsp_exchange(port: int, request: str) -> str:
    """One RTSP request on a fresh connection; the response head (and body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request.encode())
    await writer.drain()
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = await asyncio.wait_for(reader.read(4096), 10)
            if not chunk:
                break
            data += chunk
    finally:
        writer.close()
    return data.decode("latin-1")


def status_of(response: str) -> int:
    m = re.match(r"RTSP/1\.0 (\d{3})", response)
    assert m, response
    return int(m.group(1))


# rtspsrc's own log shows its control exchange: what our server answered.
GST_RTSP_LOG = {"GST_DEBUG": "rtspsrc:5", "GST_DEBUG_NO_COLOR": "1"}


def teardown_answered(log: str) -> bool:
    """The player's TEARDOWN got our 200 (in a ``GST_RTSP_LOG`` log): the server kept the
    control connection after the stream's end, as RTSP wants."""
    return re.search(r"TEARDOWN\.\.\.\n(?:.*\n)*?.*got response message 200", log) is not None


def rtspsrc_shutdown_race(log: str) -> bool:
    """GStreamer 1.22's rtspsrc, exiting at end of stream, sends PAUSE (PLAYING→PAUSED) while
    its own CLOSE command flushes the connection; the flush makes that send fail with
    "Received end-of-file" before a byte leaves (seen in ~1 of 5 runs) and gst-launch then
    exits 1. The server is not involved: the next request, TEARDOWN, is answered. True when
    that is the only error (in a ``GST_RTSP_LOG`` log)."""
    errors = re.findall(r"^ERROR: .*\n.*\n(.*\(\): .*\n.*)$", log, re.MULTILINE)
    return (
        "connection flush busy PAUSE" in log
        and bool(errors)
        and all(
            ("gst_rtspsrc_try_send" in e or "gst_rtspsrc_pause" in e)
            and "Could not send message. (Received end-of-file)" in e
            for e in errors
        )
    )


async def run(
    argv: list[str],
    timeout: float = 60,
    interrupt_after: float | None = None,
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """Run a player; (exit status, stdout, stderr). Output goes through files so that a
    player killed on timeout still shows what it printed. ``interrupt_after``: send SIGINT
    (gst-launch ``-e``: end of stream, then a clean exit) if still running after that.
    ``env``: variables added to the inherited environment."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=out, stderr=err, env={**os.environ, **(env or {})}
        )
        try:
            if interrupt_after is not None:
                try:
                    await asyncio.wait_for(proc.wait(), interrupt_after)
                except TimeoutError:
                    proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode is not None and proc.returncode < 0:
        raise AssertionError(f"{argv[0]} did not finish: {text[-3000:]} {errors[-3000:]}")
    return int(proc.returncode or 0), text, errors


async def ffprobe(url: str, *extra: str, seconds: float = 4) -> dict[str, dict[str, Any]]:
    """ffprobe's view of ``url``: streams by codec_type, frames counted over ``seconds``."""
    entries = "stream=codec_type,codec_name,width,height,nb_read_frames,sample_rate"
    rc, out, err = await run(
        [FFPROBE, "-v", "error", *extra, "-read_intervals", f"%+{seconds}", "-count_frames",
         "-show_entries", entries, "-of", "json", url]
    )  # fmt: skip
    assert rc == 0, err
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}
