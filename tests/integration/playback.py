"""Shared pieces of the playback tests: a call with a stream, and an aiortc viewer."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription

from tests.integration.conftest import HookCollector, WcsProcess
from tests.integration.test_calls_real_peers import call_body, new_id
from tests.integration.test_webrtc_aiortc import strip_candidates
from tests.integration.wcs_ws_client import WcsClient

TONE_HZ = 1000


def start_call(server: WcsProcess, hooks: HookCollector, kamailio: Any, peer: Any) -> str:
    """A call to the baresip callee; returns its stream name once the stream is published."""
    cid = new_id()
    status, _ = server.rest("call/startup", call_body(kamailio, cid, peer.user))
    assert status == 200
    hooks.wait_status(cid, "ESTABLISHED")
    name = f"stream_{cid}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for s in stream_entries(server):
            ready = s["published"] and s["status"] == "PUBLISHING"
            if s["name"] == name and ready and s.get("hasVideo") and s.get("hasAudio"):
                return name
        time.sleep(0.1)
    raise AssertionError(f"stream {name} not published: {stream_entries(server)}")


def stream_entries(server: WcsProcess) -> list[dict[str, Any]]:
    status, body = server.rest("stream/find_all", {})
    return body if status == 200 and isinstance(body, list) else []


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


async def whep_answer(base: str, name: str, offer: str) -> tuple[str, str]:
    """POST a WHEP offer to ``base``/whep/``name``; the SDP answer and the session's
    Location (201 asserted)."""
    headers = {"Content-Type": "application/sdp"}
    url = f"{base}/whep/{name}"
    status, answer_headers, body = await asyncio.to_thread(
        http, "POST", url, offer.encode(), headers
    )
    assert status == 201, body
    return body.decode(), answer_headers["location"]


async def whep_play(base: str, name: str, viewer: Viewer) -> None:
    """POST the viewer's offer to ``base``/whep/``name`` and apply the answer."""
    answer, _location = await whep_answer(base, name, await viewer.offer())
    await viewer.answer(answer)


@dataclass
class Viewer:
    """An aiortc player that counts decoded video frames and keeps decoded audio."""

    pc: RTCPeerConnection = field(default_factory=RTCPeerConnection)
    sizes: set[tuple[int, int]] = field(default_factory=set)
    video_frames: int = 0
    audio: list[np.ndarray] = field(default_factory=list)
    audio_rate: int = 0
    first_frame_at: float | None = None
    # (arrival time, RTP timestamp) of the first and the latest decoded video frame
    first_pts: tuple[float, int] | None = None
    last_pts: tuple[float, int] | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def offer(self, audio_codecs: list[str] | None = None) -> str:
        """The offer; ``audio_codecs`` (e.g. ``["opus"]``) limits what the audio m-line offers."""

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            self.tasks.append(asyncio.create_task(self._consume(track)))

        self.pc.addTransceiver("video", direction="recvonly")
        audio = self.pc.addTransceiver("audio", direction="recvonly")
        if audio_codecs is not None:
            from aiortc import RTCRtpReceiver

            caps = RTCRtpReceiver.getCapabilities("audio")
            assert caps is not None
            wanted = [c for c in caps.codecs if c.mimeType.split("/")[1].lower() in audio_codecs]
            audio.setCodecPreferences(wanted)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        # Like the WebSDK: no candidates in the offer, none trickled later.
        return strip_candidates(self.pc.localDescription.sdp)

    async def answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))

    async def _consume(self, track: Any) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            if track.kind == "video":
                self.video_frames += 1
                self.sizes.add((frame.width, frame.height))
                now = time.monotonic()
                if self.first_frame_at is None:
                    self.first_frame_at = now
                    self.first_pts = (now, int(frame.pts or 0))
                self.last_pts = (now, int(frame.pts or 0))
            else:
                self.audio_rate = frame.sample_rate
                samples = frame.to_ndarray()
                # Packed interleaved s16: average the channels to mono.
                channels = len(frame.layout.channels)
                self.audio.append(samples.reshape(-1, channels).mean(axis=1))

    def audio_seconds(self) -> float:
        n = sum(len(a) for a in self.audio)
        return n / self.audio_rate if self.audio_rate else 0.0

    def dominant_hz(self) -> float:
        """The strongest frequency of the last second of decoded audio."""
        data = np.concatenate(self.audio)[-self.audio_rate :]
        spectrum = np.abs(np.fft.rfft(data * np.hanning(len(data))))
        spectrum[0] = 0
        return float(np.argmax(spectrum) * self.audio_rate / len(data))

    async def wait(self, frames: int = 30, audio_s: float = 1.5, timeout: float = 30) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.video_frames >= frames and self.audio_seconds() >= audio_s:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(
            f"viewer got {self.video_frames} frames, {self.audio_seconds():.2f} s audio"
        )

    def media_ahead_s(self) -> float:
        """How much more media time than wall time the viewer has decoded: about the span of
        the cached GOP it started with (a viewer starting live would be near 0)."""
        assert self.first_pts is not None and self.last_pts is not None
        media = ((self.last_pts[1] - self.first_pts[1]) & 0xFFFFFFFF) / 90000
        return media - (self.last_pts[0] - self.first_pts[0])

    def vanish(self) -> None:
        """Stop every packet, without a DTLS close_notify: a viewer whose network died."""
        for transceiver in self.pc.getTransceivers():
            dtls = transceiver.receiver.transport
            connection = dtls.transport.iceGatherer._connection
            for protocol in connection._protocols:
                if protocol.transport is not None:
                    protocol.transport.close()

    async def close(self) -> None:
        await self.pc.close()
        for task in self.tasks:
            task.cancel()


async def whep_post(server: WcsProcess, name: str, viewer: Viewer) -> tuple[int, bytes]:
    """The viewer's offer POSTed to ``/whep/<name>``: the status and the answer's body."""
    offer = await viewer.offer()
    status, _, body = await asyncio.to_thread(
        http, "POST", f"{server.base}/whep/{name}", offer.encode(),
        {"Content-Type": "application/sdp"},
    )  # fmt: skip
    return status, body


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1)[:4000]


async def ws_play(client: WcsClient, name: str, viewer: Viewer) -> str:
    """playStream over the WCS protocol; returns the mediaSessionId once PLAYING."""
    msid = str(uuid.uuid1())
    client.send(
        "playStream",
        {
            "mediaSessionId": msid,
            "name": name,
            "mediaProvider": "WebRTC",
            "sdp": await viewer.offer(),
        },
    )
    await viewer.answer((await client.recv("setRemoteSDP"))["data"][1])
    playing = await client.recv("notifyStreamStatusEvent")
    assert playing["data"][0]["status"] == "PLAYING"
    return msid
