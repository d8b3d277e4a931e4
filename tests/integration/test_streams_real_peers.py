"""A SIP call's media captured into a named stream, against the real peers (Kamailio, baresip).

The server runs in the test process (``wcs.server.Server`` on real sockets) so that a frame
subscriber can be attached to the stream directly; the call is placed over REST (urllib in a
worker thread while the loop serves). What the subscriber gets is checked with independent
decoders: PyAV for H.264, numpy's FFT for the G.711 tone.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import av
import numpy as np
import pytest

from tests.fixtures.ports import free_port, free_port_range
from tests.integration.test_calls_real_peers import active_calls
from wcs.app.call import Call
from wcs.app.media import CallMedia
from wcs.app.streams import Stream
from wcs.config import Settings
from wcs.media.audio import AudioFrame
from wcs.media.g711 import alaw_decode, ulaw_decode
from wcs.media.h264 import AccessUnit
from wcs.server import Server

pytestmark = [pytest.mark.peers, pytest.mark.asyncio]

TONE_HZ = 1000


class Running:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.statuses: dict[str, list[tuple[str, str | None]]] = {}
        server.calls.watch(self._on_call)
        self.media: dict[str, CallMedia] = {}
        server.media.created = lambda m: self.media.__setitem__(m.call_id, m)

    def _on_call(self, call: Call) -> None:
        self.statuses.setdefault(call.call_id, []).append((call.status.value, call.info))

    async def rest(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        url = f"http://127.0.0.1:{self.server.http.port}/rest-api/{path}"
        data = json.dumps(body or {}).encode()

        def go() -> tuple[int, Any]:
            req = urllib.request.Request(url, data=data, method="POST")
            req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    status, raw = resp.status, resp.read()
            except urllib.error.HTTPError as exc:
                status, raw = exc.code, exc.read()
            return status, json.loads(raw) if raw else None

        return await asyncio.to_thread(go)

    async def wait_status(self, cid: str, status: str, timeout: float = 20.0) -> str | None:
        async def poll() -> str | None:
            while True:
                for s, info in self.statuses.get(cid, []):
                    if s == status:
                        return info
                await asyncio.sleep(0.05)

        try:
            return await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            raise AssertionError(f"{cid}: no {status}; saw {self.statuses.get(cid)}") from None

    async def wait_stream(self, name: str, timeout: float = 20.0) -> Stream:
        async def poll() -> Stream:
            while (s := self.server.streams.get(name)) is None:
                await asyncio.sleep(0.05)
            return s

        return await asyncio.wait_for(poll(), timeout)

    async def call(self, kamailio: Any, callee: str, **extra: Any) -> tuple[str, str]:
        cid = "c" + secrets.token_hex(6)
        name = f"stream_{cid}"
        body = {
            "callId": cid,
            "callee": callee,
            "toStream": name,
            "sipLogin": "1001",
            "sipPassword": "secret1001",
            "sipDomain": kamailio.realm,
            "sipOutboundProxy": kamailio.host,
            "sipPort": str(kamailio.port),
            "appKey": "testApp",
        }
        body.update(extra)
        status, _ = await self.rest("call/startup", body)
        assert status == 200
        return cid, name


@asynccontextmanager
async def running(**settings: Any) -> AsyncIterator[Running]:
    media_from = free_port_range(40)  # 20 pairs: plenty for two calls; the pool is shared
    base: dict[str, Any] = {
        "bind_ip": "127.0.0.1",
        "public_ip": "127.0.0.1",
        "http_port": free_port(),
        "ws_port": free_port(),
        "hls_port": 0,
        "rtsp_port": 0,
        "sip_port": free_port(),
        "media_port_from": media_from,
        "media_port_to": media_from + 39,
    }
    base.update(settings)
    server = Server(Settings(**base))
    await server.start()
    try:
        yield Running(server)
    finally:
        await server.stop()


class Frames:
    """A frame sink that only stores (non-blocking, as the contract says)."""

    def __init__(self) -> None:
        self.video: list[tuple[AccessUnit, float]] = []
        self.audio: list[tuple[AudioFrame, float]] = []
        self.ended: str | None = None

    def on_video(self, au: AccessUnit, pts_ms: float) -> None:
        self.video.append((au, pts_ms))

    def on_audio(self, frame: AudioFrame, pts_ms: float) -> None:
        self.audio.append((frame, pts_ms))

    def on_stream_end(self, reason: str) -> None:
        self.ended = reason


class Packets:
    def __init__(self) -> None:
        self.count = {"audio": 0, "video": 0}

    def on_rtp(self, kind: str, packet: bytes) -> None:
        self.count[kind] += 1

    def on_stream_end(self, reason: str) -> None:
        pass


def decode_video(aus: list[AccessUnit]) -> tuple[set[tuple[int, int]], int, list[str]]:
    """Decode with PyAV from the first keyframe on: (sizes, pictures, libav error lines)."""
    start = next(i for i, au in enumerate(aus) if au.keyframe)
    ctx = av.CodecContext.create("h264", "r")
    sizes: set[tuple[int, int]] = set()
    pictures = 0
    errors: list[str] = []
    with av.logging.Capture() as logs:
        for au in aus[start:]:
            try:
                for f in ctx.decode(av.Packet(au.annexb())):
                    sizes.add((f.width, f.height))
                    pictures += 1
            except av.error.FFmpegError as exc:
                errors.append(str(exc))
    errors += [msg for level, _, msg in logs if level <= av.logging.ERROR]
    return sizes, pictures, errors


def dominant_hz(frames: list[AudioFrame]) -> float:
    codec = frames[0].codec
    raw = b"".join(f.payload for f in frames)
    pcm = alaw_decode(raw) if codec == "PCMA" else ulaw_decode(raw)
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / 8000)
    return float(freqs[int(np.argmax(spec[1:])) + 1])


async def collect(seconds: float) -> None:
    await asyncio.sleep(seconds)  # media flows meanwhile; assertions are on what arrived


# ---------------------------------------------------------------------------- tests


async def test_av_call_becomes_a_decodable_stream(kamailio, callee) -> None:
    peer = callee(tone_hz=TONE_HZ)
    async with running() as r:
        cid, name = await r.call(kamailio, peer.user)
        await r.wait_status(cid, "ESTABLISHED")
        stream = await r.wait_stream(name)
        assert set(stream.tracks) == {"audio", "video"}
        assert stream.tracks["video"].codec == "H264"
        frames, packets = Frames(), Packets()
        stream.subscribe_frames(frames)
        stream.subscribe_packets(packets)
        await collect(4)
        # While the call lasts, find_all lists the stream with its figures.
        status, listed = await r.rest("stream/find_all")
        assert status == 200
        entry = next(e for e in listed if e["name"] == name)
        assert entry["published"] is True and entry["status"] == "PUBLISHING"
        assert (entry["width"], entry["height"]) == (352, 288)
        assert entry["videoCodec"] == "H264" and entry["audioCodec"] in ("PCMA", "PCMU")
        assert entry["packetsReceived"] > 100 and entry["packetsLost"] == 0
        status, found = await r.rest("stream/find", {"mediaSessionId": entry["mediaSessionId"]})
        assert status == 200 and found[0]["name"] == name
        print("stream figures:", json.dumps(entry["mediaStats"]))
        assert await r.rest("call/terminate", {"callId": cid}) == (200, None)
        await r.wait_status(cid, "FINISH")
        assert frames.ended == "Normal call clearing"
        status, body = await r.rest("stream/find_all")
        assert (status, body["error"]) == (404, "Streams not found")
        assert (await r.rest("stream/find", {"name": name}))[0] == 404

    sizes, pictures, errors = decode_video([au for au, _ in frames.video])
    assert sizes == {(352, 288)}
    assert pictures > 30 and errors == []
    assert abs(dominant_hz([f for f, _ in frames.audio]) - TONE_HZ) <= 0.02 * TONE_HZ
    assert packets.count["video"] > pictures and packets.count["audio"] > 100
    # pts on the shared clock: increasing per track, both tracks within the same seconds.
    vpts = [p for _, p in frames.video]
    apts = [p for _, p in frames.audio]
    assert vpts == sorted(vpts) and apts == sorted(apts)
    assert abs(vpts[-1] - apts[-1]) < 1000


async def test_packetization_mode_0(kamailio, callee) -> None:
    peer = callee(tone_hz=TONE_HZ, video_codecs="H264")
    async with running() as r:
        cid, name = await r.call(kamailio, peer.user)
        await r.wait_status(cid, "ESTABLISHED")
        stream = await r.wait_stream(name)
        assert "packetization-mode=0" in (stream.tracks["video"].fmtp or "")
        frames = Frames()
        stream.subscribe_frames(frames)
        await collect(4)
        await r.rest("call/terminate", {"callId": cid})
        await r.wait_status(cid, "FINISH")
    sizes, pictures, errors = decode_video([au for au, _ in frames.video])
    assert sizes == {(352, 288)} and pictures > 30 and errors == []


async def test_audio_only_callee_gives_audio_only_stream(kamailio, callee) -> None:
    peer = callee(media="audio", tone_hz=TONE_HZ)
    async with running() as r:
        cid, name = await r.call(kamailio, peer.user)
        await r.wait_status(cid, "ESTABLISHED")
        stream = await r.wait_stream(name)
        assert set(stream.tracks) == {"audio"}
        frames = Frames()
        stream.subscribe_frames(frames)
        await collect(2)
        _, listed = await r.rest("stream/find", {"name": name})
        assert listed[0]["hasVideo"] is False and listed[0]["hasAudio"] is True
        await r.rest("call/terminate", {"callId": cid})
        await r.wait_status(cid, "FINISH")
    assert frames.video == []
    assert abs(dominant_hz([f for f, _ in frames.audio]) - TONE_HZ) <= 0.02 * TONE_HZ


async def test_audio_only_callee_with_generated_black_video(kamailio, callee) -> None:
    peer = callee(media="audio", tone_hz=TONE_HZ)
    async with running(generate_av="video") as r:
        cid, name = await r.call(kamailio, peer.user)
        await r.wait_status(cid, "ESTABLISHED")
        stream = await r.wait_stream(name)
        assert set(stream.tracks) == {"audio", "video"}
        assert stream.tracks["video"].generated and not stream.tracks["audio"].generated
        frames, packets = Frames(), Packets()
        stream.subscribe_frames(frames)
        stream.subscribe_packets(packets)
        await collect(3)
        await r.rest("call/terminate", {"callId": cid})
        await r.wait_status(cid, "FINISH")
    sizes, pictures, errors = decode_video([au for au, _ in frames.video])
    assert sizes == {(320, 240)} and pictures >= 10 and errors == []
    assert packets.count["video"] >= 10
    # Black started only after the real audio did: the first video pts is not before it.
    assert frames.video[0][1] >= frames.audio[0][1] - 100 if frames.audio else True
    assert abs(dominant_hz([f for f, _ in frames.audio]) - TONE_HZ) <= 0.02 * TONE_HZ


def _rewrite_ports(sdp_text: str, ports: dict[str, int]) -> str:
    for kind, port in ports.items():
        sdp_text = re.sub(rf"(?m)^m={kind} \d+ ", f"m={kind} {port} ", sdp_text)
    return sdp_text


async def test_symmetric_rtp_when_the_sdp_names_another_address(kamailio, callee) -> None:
    """The callee's answer is rewritten (in our process, before negotiation) to name ports
    nobody listens on. baresip still sends from its real ports; only by learning those from
    its packets can our audio (silence) reach it, which its end-of-call counters show."""
    peer = callee(tone_hz=TONE_HZ)
    dead = {"audio": free_port(), "video": free_port()}
    async with running() as r:

        def created(media: CallMedia) -> None:
            r.media[media.call_id] = media
            orig = media.on_remote_sdp

            def rewritten(body: bytes, final: bool) -> None:
                orig(_rewrite_ports(body.decode(), dead).encode(), final)

            media.on_remote_sdp = rewritten  # type: ignore[method-assign]

        r.server.media.created = created
        cid, name = await r.call(kamailio, peer.user)
        await r.wait_status(cid, "ESTABLISHED")
        stream = await r.wait_stream(name)
        frames = Frames()
        stream.subscribe_frames(frames)
        await collect(3)
        media = r.media[cid]
        audio = media.sessions["audio"]
        assert audio.media.remote_address == ("127.0.0.1", dead["audio"])
        assert audio.latched_rtp and audio.remote_rtp != audio.media.remote_address
        sent = audio.snapshot(0)["sentPackets"]
        peer.hangup()
        await r.wait_status(cid, "FINISH")
    assert frames.audio and frames.video
    deadline = asyncio.get_running_loop().time() + 5
    while "audio" not in peer.rtp_stats() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    rx = peer.rtp_stats()["audio"]["rx_packets"]
    print(f"symmetric RTP: sent {sent} audio packets, the callee received {rx}")
    assert isinstance(sent, int) and rx > 0.5 * sent


@pytest.mark.parametrize("early_ms", [10, 0])
async def test_silence_rides_on_the_callees_packets_and_arrives_whole(
    kamailio, callee, early_ms
) -> None:
    """``rtp_silence_early_ms``: a silence slot may leave on a wake-up the callee's own
    packets cause, up to that long before its time, instead of on its timer. baresip's
    end-of-call counters show the stream whole (every packet received, no errors); with 0
    no slot leaves early."""
    peer = callee(tone_hz=TONE_HZ)
    async with running(rtp_silence_early_ms=early_ms) as r:

        def created(media: CallMedia) -> None:
            r.media[media.call_id] = media

        r.server.media.created = created
        cid, name = await r.call(kamailio, peer.user)
        await r.wait_status(cid, "ESTABLISHED")
        await r.wait_stream(name)
        await collect(3)
        snap = r.media[cid].sessions["audio"].snapshot(0)
        peer.hangup()
        await r.wait_status(cid, "FINISH")
    deadline = asyncio.get_running_loop().time() + 5
    while "rx_errors" not in peer.rtp_stats().get("audio", {}):  # the block is written whole
        assert asyncio.get_running_loop().time() < deadline, "no RTP report in the callee log"
        await asyncio.sleep(0.1)
    rx = peer.rtp_stats()["audio"]
    sent, early = snap["sentPackets"], snap["silenceSentEarly"]
    print(f"silence early {early_ms} ms: {early} of {sent} slots sent early; callee: {rx}")
    assert isinstance(sent, int) and isinstance(early, int) and sent >= 100
    assert rx["rx_lost"] == 0 and rx["rx_errors"] == 0  # lost: by sequence gaps
    # ``sent`` was read before the hang-up; the 3 init packets go out as the answer arrives
    assert rx["rx_packets"] >= sent - 3
    if early_ms:
        assert early > 0
    else:
        assert early == 0


class _ProxyPort(asyncio.DatagramProtocol):
    """One port of the proxy: callee → server through ``relay``, server → callee as is."""

    def __init__(self, proxy: LossyProxy, offset: int) -> None:
        self.proxy = proxy
        self.offset = offset
        self.peer: tuple[str, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        ours = ("127.0.0.1", self.proxy.target_port + self.offset)
        if addr == ours:  # from the server: back to the callee
            if self.peer is not None:
                self.t.sendto(data, self.peer)
            return
        self.peer = addr
        if self.offset == 0:
            self.proxy.relay(self.t, data, ours)
        else:
            self.t.sendto(data, ours)


class LossyProxy:
    """A UDP relay for one RTP/RTCP port pair: the callee sends to it (our offer names it),
    it forwards to our real ports; it drops every ``drop_every``-th RTP packet and swaps every
    ``swap_every``-th one with its successor (reordering)."""

    def __init__(self, target_port: int, drop_every: int = 40, swap_every: int = 9) -> None:
        self.target_port = target_port
        self.drop_every = drop_every
        self.swap_every = swap_every
        self.port = free_port_range(2, step=2)
        self.dropped = 0
        self.swapped = 0
        self.forwarded = 0
        self._n = 0
        self._held: bytes | None = None
        self._transports: list[asyncio.DatagramTransport] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for offset in (0, 1):
            transport, _ = await loop.create_datagram_endpoint(
                lambda o=offset: _ProxyPort(self, o),  # type: ignore[misc]
                local_addr=("127.0.0.1", self.port + offset),
            )
            self._transports.append(transport)

    def relay(self, t: asyncio.DatagramTransport, data: bytes, to: tuple[str, int]) -> None:
        self._n += 1
        if self._n % self.drop_every == 0:
            self.dropped += 1
            return
        if self._held is None and self._n % self.swap_every == 0:
            self._held = data
            return
        t.sendto(data, to)
        self.forwarded += 1
        if self._held is not None:
            t.sendto(self._held, to)
            self.swapped += 1
            self.forwarded += 1
            self._held = None

    def close(self) -> None:
        for t in self._transports:
            t.close()


# jitter buffer: everything in order; "frames" (the default): packets as received, the frame
# path alone reordered (frame_reorder_ms); "none": neither, late packets damage pictures.
@pytest.mark.parametrize("mode", ["none", "frames", "jitter"])
async def test_loss_and_reordering_through_a_proxy(kamailio, callee, mode) -> None:
    peer = callee(tone_hz=TONE_HZ)
    jitter_buffer = mode == "jitter"
    settings = {"jitter_buffer": jitter_buffer, "jitter_buffer_latency_ms": 100,
                "frame_reorder_ms": 0 if mode == "none" else 100}  # fmt: skip
    async with running(**settings) as r:
        proxies: list[LossyProxy] = []

        def created(media: CallMedia) -> None:
            r.media[media.call_id] = media
            assert media.video_ports is not None
            proxy = LossyProxy(media.video_ports.rtp_port)
            proxies.append(proxy)
            orig = media.offer

            def offer() -> bytes:
                return _rewrite_ports(orig().decode(), {"video": proxy.port}).encode()

            media.offer = offer  # type: ignore[method-assign]

        r.server.media.created = created
        cid = "c" + secrets.token_hex(6)
        # The proxy must listen before the INVITE goes out: start it from the factory hook's
        # result right after startup (the callee answers only after its 180).
        status, _ = await r.rest(
            "call/startup",
            {
                "callId": cid,
                "callee": peer.user,
                "toStream": f"s_{cid}",
                "sipLogin": "1001",
                "sipPassword": "secret1001",
                "sipDomain": kamailio.realm,
                "sipOutboundProxy": kamailio.host,
                "sipPort": str(kamailio.port),
            },
        )
        assert status == 200
        await proxies[0].start()
        await r.wait_status(cid, "ESTABLISHED")
        stream = await r.wait_stream(f"s_{cid}")
        frames = Frames()
        stream.subscribe_frames(frames)
        await collect(6)
        video = r.media[cid].sessions["video"]
        snap = video.snapshot(0)
        dep = video.depacketizer
        assert dep is not None
        await r.rest("call/terminate", {"callId": cid})
        await r.wait_status(cid, "FINISH")
        proxies[0].close()
    proxy = proxies[0]
    print(
        f"reordering {mode}: proxy dropped {proxy.dropped}, swapped {proxy.swapped};"
        f" stats {json.dumps(snap)}"
    )
    assert proxy.dropped > 0 and proxy.swapped > 0
    # Loss is counted (reordered packets are not loss).
    assert snap["lost"] == proxy.dropped or abs(int(snap["lost"]) - proxy.dropped) <= 2
    if mode != "none":
        # The jitter buffer (or the frame path's reorder buffer) put every swapped pair back
        # in order: the depacketizer saw no late packet, only the dropped ones as gaps.
        assert dep.stats.late == 0
        ordered = snap["jitterBuffer" if jitter_buffer else "frameReorder"]
        assert ordered["lost"] >= proxy.dropped - 2  # type: ignore[index]
    else:
        assert dep.stats.late > 0
    # Never a damaged access unit handed out as a keyframe: every keyframe decodes cleanly on
    # its own (a fresh decoder per keyframe).
    keyframes = [au for au, _ in frames.video if au.keyframe]
    assert all(not au.damaged for au, _ in frames.video)
    if mode != "none":
        # In order again, only the dropped packets break pictures: keyframes get through
        # (asked for by PLI after each loss).
        assert keyframes and snap["keyframeRequests"]["pli"] > 0  # type: ignore[index]
    else:
        # Reordered packets are late for the depacketizer: a swap inside a keyframe damages
        # it, and damaged pictures are withheld, never handed out as keyframes.
        assert int(snap["damaged"]) > 0
    for key in keyframes:
        sizes, pictures, errors = decode_video([key])
        assert (sizes, pictures, errors) == ({(352, 288)}, 1, [])


async def test_rtp_inactivity_fails_the_call_but_not_on_hold(kamailio, callee) -> None:
    peer = callee(tone_hz=TONE_HZ)
    async with running(rtp_activity_timeout=2.0) as r:
        # 1. Hold: the callee stops sending on purpose; the call must stay up.
        cid, name = await r.call(kamailio, peer.user)
        await r.wait_status(cid, "ESTABLISHED")
        await r.wait_stream(name)
        await collect(1)
        peer.ctrl("hold")
        await r.wait_status(cid, "HOLD")
        audio = r.media[cid].sessions["audio"]
        await collect(0.5)
        before = audio.stats.latest.packets if audio.stats.latest else 0
        await collect(4)  # twice the timeout
        after = audio.stats.latest.packets if audio.stats.latest else 0
        assert after == before, "the callee kept sending while on hold: nothing was tested"
        assert r.server.calls.get(cid) is not None
        assert "FAILED" not in [s for s, _ in r.statuses[cid]]
        await r.rest("call/terminate", {"callId": cid})
        await r.wait_status(cid, "FINISH")

        # 2. A callee that keeps the call but stops sending (SIGSTOP) fails it.
        cid, name = await r.call(kamailio, peer.user)
        await r.wait_status(cid, "ESTABLISHED")
        stream = await r.wait_stream(name)
        frames = Frames()
        stream.subscribe_frames(frames)
        await collect(1)
        os.kill(peer.pid, signal.SIGSTOP)
        try:
            info = await r.wait_status(cid, "FAILED", timeout=15)
        finally:
            os.kill(peer.pid, signal.SIGCONT)
        assert info == "Failed by RTP activity"
        assert frames.ended == "Failed by RTP activity"
        # The callee got a BYE for it (read once it runs again): its call is gone.
        for _ in range(100):
            if await asyncio.to_thread(active_calls, peer) == 0:
                break
            await asyncio.sleep(0.1)
        assert await asyncio.to_thread(active_calls, peer) == 0
        assert r.server.streams.get(name) is None
        assert (await r.rest("stream/find", {"name": name}))[0] == 404


async def test_stream_terminate_hangs_up_the_call(kamailio, callee) -> None:
    peer = callee(tone_hz=TONE_HZ)
    async with running() as r:
        cid, name = await r.call(kamailio, peer.user)
        await r.wait_status(cid, "ESTABLISHED")
        stream = await r.wait_stream(name)
        status, _body = await r.rest(
            "stream/terminate", {"mediaSessionId": stream.media_session_id}
        )
        assert status == 200
        info = await r.wait_status(cid, "FINISH")
        assert info == "Normal call clearing"
        assert r.server.streams.get(name) is None


@pytest.mark.parametrize("publish_early", [False, True])
async def test_early_media_publishes_only_when_asked(kamailio, callee, publish_early) -> None:
    peer = callee(mode="early")
    async with running(publish_early_media=publish_early) as r:
        cid, name = await r.call(kamailio, peer.user)
        await r.wait_status(cid, "SESSION_PROGRESS")
        await collect(0.5)
        # The media path runs either way (its sessions exist: init packets went out).
        assert set(r.media[cid].sessions) == {"audio", "video"}
        stream = r.server.streams.get(name)
        assert (stream is not None) == publish_early
        status, _ = await r.rest("stream/find", {"name": name})
        assert status == (200 if publish_early else 404)
        await r.rest("call/terminate", {"callId": cid})
        await r.wait_status(cid, "FINISH")
        assert r.server.streams.get(name) is None


async def test_a_taken_stream_name_fails_the_second_call(kamailio, callee) -> None:
    peer = callee(tone_hz=TONE_HZ)
    async with running() as r:
        cid, name = await r.call(kamailio, peer.user)
        await r.wait_status(cid, "ESTABLISHED")
        await r.wait_stream(name)
        cid2, _ = await r.call(kamailio, peer.user, toStream=name)
        info = await r.wait_status(cid2, "FAILED")
        assert info is not None and "already published" in info
        assert r.server.streams.get(name) is not None  # the first call's stream is untouched
        await r.rest("call/terminate", {"callId": cid})
        await r.wait_status(cid, "FINISH")


async def test_keyframe_request_reaches_the_callee(kamailio, callee) -> None:
    """Stream.request_keyframe (what a new viewer calls) sends an RTCP PLI; baresip answers
    each with a keyframe (it sends none on its own for many seconds after the first)."""
    peer = callee(tone_hz=TONE_HZ)
    async with running() as r:
        cid, name = await r.call(kamailio, peer.user)
        await r.wait_status(cid, "ESTABLISHED")
        stream = await r.wait_stream(name)
        frames = Frames()
        stream.subscribe_frames(frames)
        await collect(2)
        loop = asyncio.get_running_loop()
        for _ in range(3):
            before = stream.keyframes
            asked = loop.time()
            stream.request_keyframe()
            while stream.keyframes == before and loop.time() - asked < 5:
                await asyncio.sleep(0.02)
            assert stream.keyframes == before + 1
            await collect(1.1)  # past the 1 s rate limit
        sent = r.media[cid].sessions["video"].keyframes.sent
        assert sent["pli"] >= 3 and sent["info"] == 0
        await r.rest("call/terminate", {"callId": cid})
        await r.wait_status(cid, "FINISH")
    assert sum(au.keyframe for au, _ in frames.video) >= 3
