"""Browsers publishing: aiortc sends an Opus tone and H.264 over WHIP and over the WCS
WebSocket protocol; an aiortc viewer decodes the stream, a recording of it plays, a taken
name is refused, and a publisher whose handshake never completes fails and frees its port."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aioice import Candidate, Connection

from tests.integration.conftest import HookCollector, WcsFactory, WcsProcess
from tests.integration.playback import Viewer, http, stream_entries, ws_play
from tests.integration.publishing import HEIGHT, PUBLISH_TONE_HZ, WIDTH, Publisher
from tests.integration.test_record_real_peers import probe
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback, strip_candidates  # noqa: F401
from tests.integration.wcs_ws_client import WcsClient

SDP = {"Content-Type": "application/sdp"}

pytestmark = [pytest.mark.peers, pytest.mark.asyncio, pytest.mark.usefixtures("aiortc_on_loopback")]


def published(server: WcsProcess, name: str) -> dict[str, Any] | None:
    for s in stream_entries(server):
        if s["name"] == name and s["published"]:
            return s
    return None


async def wait_published(server: WcsProcess, name: str, timeout: float = 20) -> dict[str, Any]:
    """The stream's entry once its video size is known (the first keyframe arrived)."""
    deadline = time.monotonic() + timeout
    entry: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        entry = await asyncio.to_thread(published, server, name)
        if entry is not None and entry["width"] and entry["packetsReceived"] > 50:
            return entry
        await asyncio.sleep(0.2)
    raise AssertionError(f"{name} not publishing: {entry}")


def publisher_statuses(hooks: HookCollector, name: str) -> list[str]:
    """The statuses of the StreamStatusEvent hooks of publisher ``name``, in order."""
    return [
        e["status"]
        for m, e in hooks.events
        if m == "StreamStatusEvent" and e["name"] == name and e["published"]
    ]


async def whip_post(server: WcsProcess, name: str, offer: str) -> tuple[int, dict[str, str], str]:
    status, headers, body = await asyncio.to_thread(
        http, "POST", f"{server.base}/whip/{name}", offer.encode(), SDP
    )
    return status, headers, body.decode()


async def whep_view(server: WcsProcess, name: str) -> Viewer:
    viewer = Viewer()
    offer = await viewer.offer()
    status, _, body = await asyncio.to_thread(
        http, "POST", f"{server.base}/whep/{name}", offer.encode(), SDP
    )
    assert status == 201, body
    await viewer.answer(body.decode())
    return viewer


async def record_h264(
    server: WcsProcess, msid: str, records: Path
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """Record the stream for 4 s; the file holds H.264 of the publisher's size and audio."""
    config = {"fileTemplate": "{streamName}"}
    assert server.rest("recorder/startup", {"mediaSessionId": msid, "config": config}) == (
        200,
        None,
    )
    await asyncio.sleep(4)
    assert server.rest("recorder/terminate", {"mediaSessionId": msid}) == (200, None)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and server.rest("recorder/find_all")[0] != 404:
        await asyncio.sleep(0.1)
    (file,) = list(records.iterdir())
    info = probe(file)
    kinds = {s["codec_type"]: s for s in info["streams"]}
    assert kinds["video"]["codec_name"] == "h264", kinds
    assert (kinds["video"]["width"], kinds["video"]["height"]) == (WIDTH, HEIGHT)
    assert "audio" in kinds
    assert float(info["format"]["duration"]) >= 2.0
    return file, info, kinds


async def push_h264_aac(server: WcsProcess, nginx_rtmp: Any, name: str) -> None:
    """/push/startup of the stream to nginx-rtmp: ffprobe there sees H.264 of the
    publisher's size and AAC."""
    from tests.integration.test_push_calls import Probe, base_url

    probe = Probe(nginx_rtmp.url(f"rtmp_{name}"))
    await asyncio.sleep(0.5)  # the probe waits at nginx before the push publishes
    status, job = server.rest("push/startup", {"streamName": name, "rtmpUrl": base_url(nginx_rtmp)})
    assert status == 200, job
    streams = await asyncio.to_thread(probe.join)
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (WIDTH, HEIGHT)
    assert streams["audio"]["codec_name"] == "aac"


def check_viewer(viewer: Viewer) -> None:
    assert (WIDTH, HEIGHT) in viewer.sizes, viewer.sizes
    hz = viewer.dominant_hz()
    assert abs(hz - PUBLISH_TONE_HZ) <= 0.02 * PUBLISH_TONE_HZ, hz


async def test_whip_publish_play_record_refuse_and_delete(
    wcs: WcsFactory, hooks: HookCollector, tmp_path: Path
) -> None:
    records = tmp_path / "records"
    server = wcs(rest_hooks=f"defaultApp={hooks.url}", record_dir=str(records))
    name = "whip_" + uuid.uuid4().hex[:8]
    pub = Publisher()
    viewer: Viewer | None = None
    try:
        status, headers, answer = await whip_post(server, name, await pub.offer())
        assert status == 201, answer
        location = headers["location"]
        assert location.startswith(f"/whip/{name}/")
        assert headers["etag"].startswith('"')
        assert "Location" in headers["access-control-expose-headers"]
        assert "a=recvonly" in answer and "H264" in answer and "opus" in answer
        assert "goog-remb" in answer
        await pub.answer(answer)
        entry = await wait_published(server, name)
        assert entry["mediaProvider"] == "WebRTC" and entry["status"] == "PUBLISHING"
        assert (entry["videoCodec"], entry["audioCodec"]) == ("H264", "opus")
        assert (entry["width"], entry["height"]) == (WIDTH, HEIGHT)
        assert entry["mediaStats"]["video"]["remote"].startswith("127.0.0.1:")
        msid = entry["mediaSessionId"]
        assert location.endswith("/" + msid)

        # The name is taken: 409, and the first publisher goes on.
        other = Publisher()
        try:
            status, _, info = await whip_post(server, name, await other.offer())
            assert status == 409 and "already in use" in info, (status, info)
        finally:
            await other.close()

        # Our REMB reached the browser's encoder; our receiver reports are read.
        sender = pub.video_sender()
        encoder = sender._RTCRtpSender__encoder
        assert encoder is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and encoder.target_bitrate == 1_000_000:
            await asyncio.sleep(0.1)
        remb = (await wait_published(server, name))["mediaStats"]["video"]["remb"]
        assert encoder.target_bitrate != 1_000_000  # aiortc's default: REMB changed it
        assert remb > 1_000_000
        print(f"publisher's encoder target after REMB: {encoder.target_bitrate} bit/s")

        viewer = await whep_view(server, name)
        await viewer.wait(frames=30, audio_s=1.5)
        check_viewer(viewer)

        file, info, kinds = await record_h264(server, msid, records)
        print(
            f"recording {file.name}: {info['format']['duration']} s, {kinds['audio']['codec_name']}"
        )

        status, _, _ = await asyncio.to_thread(http, "DELETE", server.base + location)
        assert status == 200
        assert await asyncio.to_thread(published, server, name) is None
        status, _, _ = await asyncio.to_thread(http, "DELETE", server.base + location)
        assert status == 404
        # The viewer is told the publisher left.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and [
            s for s in await asyncio.to_thread(stream_entries, server) if s["name"] == name
        ]:
            await asyncio.sleep(0.1)
        statuses = publisher_statuses(hooks, name)
        assert statuses == ["PUBLISHING", "UNPUBLISHED"], statuses
    finally:
        if viewer is not None:
            await viewer.close()
        await pub.close()


async def test_ws_publish_play_refuse_and_unpublish(wcs: WcsFactory, hooks: HookCollector) -> None:
    ws_port = _port()
    server = wcs(rest_hooks=f"testApp={hooks.url}", ws_port=ws_port)
    name = "ws_" + uuid.uuid4().hex[:8]
    pub = Publisher()
    viewer = Viewer()
    a, b = WcsClient(server.host, ws_port), WcsClient(server.host, ws_port)
    try:
        for client in (a, b):
            await client.connect()
            client.send("connection", {"appKey": "testApp", "mediaProviders": ["WebRTC"]})
            await client.recv("getUserData")
        msid = str(uuid.uuid1())
        a.send("publishStream", _publish_body(msid, name, strip_candidates(await pub.offer())))
        remote = await a.recv("setRemoteSDP")
        assert remote["data"][0] == msid
        await pub.answer(remote["data"][1])
        status = (await a.recv("notifyStreamStatusEvent"))["data"][0]
        assert (status["status"], status["published"], status["mediaSessionId"]) == (
            "PUBLISHING",
            True,
            msid,
        )
        entry = await wait_published(server, name)
        assert entry["mediaSessionId"] == msid and entry["appKey"] == "testApp"
        assert entry["mediaProvider"] == "WebRTC" and entry["sessionId"]

        # Another session publishing the same name: FAILED with a clear info.
        other = Publisher()
        try:
            msid2 = str(uuid.uuid1())
            b.send(
                "publishStream", _publish_body(msid2, name, strip_candidates(await other.offer()))
            )
            failed = (await b.recv("notifyStreamStatusEvent"))["data"][0]
            assert failed["status"] == "FAILED" and failed["mediaSessionId"] == msid2
            assert failed["info"] == "Stream name is already in use"
        finally:
            await other.close()

        # The second session plays the first one's stream.
        await ws_play(b, name, viewer)
        await viewer.wait(frames=30, audio_s=1.5)
        check_viewer(viewer)

        a.send("unPublishStream", {"mediaSessionId": msid, "name": name, "published": True})
        ended = (await a.recv("notifyStreamStatusEvent"))["data"][0]
        assert ended["status"] == "UNPUBLISHED" and ended["mediaSessionId"] == msid
        stopped = (await b.recv("notifyStreamStatusEvent"))["data"][0]
        assert stopped["status"] == "STOPPED"
        assert await asyncio.to_thread(published, server, name) is None
    finally:
        await a.close()
        await b.close()
        await viewer.close()
        await pub.close()


async def test_publisher_without_dtls_fails_and_frees_its_port(
    wcs: WcsFactory, hooks: HookCollector
) -> None:
    """ICE completes, DTLS never does: FAILED after the ICE/DTLS timeout, port free again."""
    server = wcs(rest_hooks=f"defaultApp={hooks.url}", webrtc_ice_timeout=3)
    name = "nodtls_" + uuid.uuid4().hex[:8]
    ice = Connection(ice_controlling=True)
    await ice.gather_candidates()
    offer = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n"
        "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
        f"a=ice-ufrag:{ice.local_username}\r\na=ice-pwd:{ice.local_password}\r\n"
        f"a=fingerprint:sha-256 {':'.join(['AB'] * 32)}\r\na=setup:actpass\r\n"
    )
    try:
        status, _, answer = await whip_post(server, name, offer)
        assert status == 201, answer
        cand_line = next(line for line in answer.splitlines() if line.startswith("a=candidate:"))
        cand = Candidate.from_sdp(cand_line[len("a=candidate:") :])
        ufrag = next(line for line in answer.splitlines() if line.startswith("a=ice-ufrag:"))
        pwd = next(line for line in answer.splitlines() if line.startswith("a=ice-pwd:"))
        ice.remote_username = ufrag.split(":", 1)[1]
        ice.remote_password = pwd.split(":", 1)[1]
        await ice.add_remote_candidate(cand)
        await ice.add_remote_candidate(None)
        await asyncio.wait_for(ice.connect(), 10)  # ICE done; we never answer DTLS
        assert await asyncio.to_thread(published, server, name) is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and await asyncio.to_thread(published, server, name):
            await asyncio.sleep(0.2)
        assert await asyncio.to_thread(published, server, name) is None
        events = [e for m, e in hooks.events if m == "StreamStatusEvent" and e["name"] == name]
        assert [e["status"] for e in events] == ["PUBLISHING", "FAILED"], events
        assert events[-1]["info"] == "Failed by DTLS error", events[-1]
        # Its port is free again.
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("127.0.0.1", cand.port))
        finally:
            sock.close()
    finally:
        await ice.close()


async def test_published_stream_pushes_to_rtmp(wcs: WcsFactory, nginx_rtmp: Any) -> None:
    """A browser's H.264 goes to RTMP as is, its Opus as AAC (the call's push path); with the
    jitter buffer on, so its timer-driven release is what feeds the push."""
    server = wcs(jitter_buffer="true")
    name = "push_" + uuid.uuid4().hex[:8]
    pub = Publisher()
    try:
        status, _, answer = await whip_post(server, name, await pub.offer())
        assert status == 201, answer
        await pub.answer(answer)
        entry = await wait_published(server, name)
        assert entry["mediaStats"]["video"]["jitterBuffer"]["released"] > 0
        await push_h264_aac(server, nginx_rtmp, name)
    finally:
        await pub.close()


def _publish_body(msid: str, name: str, sdp: str) -> dict[str, Any]:
    """What the WebSDK sends (flashphoner-core.js publish())."""
    return {
        "mediaSessionId": msid,
        "name": name,
        "published": True,
        "hasVideo": True,
        "hasAudio": True,
        "status": "PENDING",
        "record": False,
        "mediaProvider": "WebRTC",
        "sdp": sdp,
        "custom": {},
        "bitrate": 0,
        "minBitrate": 0,
        "maxBitrate": 0,
        "rtmpUrl": "",
        "constraints": {"audio": True, "video": True},
        "transport": "UDP",
        "cvoExtension": False,
    }


def _port() -> int:
    from tests.fixtures.ports import free_port

    return free_port()
