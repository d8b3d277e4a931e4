"""WHIP/WHEP trickle ICE (RFC 9725 4.3) against a live server: an aiortc publisher offers
without candidates and trickles them with PATCH; the server's ICE agent gets them (it sends
connectivity checks to a trickled candidate the test listens on), the session connects and
an aiortc viewer decodes the stream. A WHEP viewer trickles the same way."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import uuid
from pathlib import Path

import pytest
from aioice import stun

from tests.integration.conftest import WcsFactory
from tests.integration.playback import Viewer, http
from tests.integration.publishing import Publisher
from tests.integration.test_publish_aiortc import (
    check_viewer,
    wait_published,
    whep_view,
    whip_post,
)
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback, strip_candidates  # noqa: F401
from tests.peers.procs import require_binary

pytestmark = [pytest.mark.peers, pytest.mark.asyncio, pytest.mark.usefixtures("aiortc_on_loopback")]

FRAG = "application/trickle-ice-sdpfrag"


def sdpfrag(sdp: str, extra: list[str]) -> str:
    """The client's trickle body (RFC 8840): credentials, the bundle's first m-line and mid,
    the candidates its description holds, then ``extra``, then end-of-candidates."""
    lines = sdp.splitlines()
    ufrag = next(x for x in lines if x.startswith("a=ice-ufrag:"))
    pwd = next(x for x in lines if x.startswith("a=ice-pwd:"))
    mline = next(x for x in lines if x.startswith("m="))
    mid = next(x for x in lines if x.startswith("a=mid:"))
    candidates = [x for x in lines if x.startswith("a=candidate:")]
    assert candidates, "the client gathered no candidates"
    body = [ufrag, pwd, mline, mid, *extra, *candidates, "a=end-of-candidates"]
    return "\r\n".join(body) + "\r\n"


async def patch(url: str, body: str, etag: str | None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": FRAG}
    if etag is not None:
        headers["If-Match"] = etag
    return await asyncio.to_thread(http, "PATCH", url, body.encode(), headers)


async def test_whip_session_connects_with_trickled_candidates(wcs: WcsFactory) -> None:
    server = wcs()
    name = "trickle_" + uuid.uuid4().hex[:8]
    pub = Publisher()
    viewer: Viewer | None = None
    # A candidate nobody answers from: the server's checks reaching it prove the trickled
    # candidates went into its ICE agent (an offer without candidates gives it none).
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    probe.setblocking(False)
    probe_line = f"a=candidate:99 1 udp 2130706431 127.0.0.1 {probe.getsockname()[1]} typ host"
    try:
        full = await pub.offer()
        offer = strip_candidates(full)
        assert "a=candidate" not in offer
        status, headers, answer = await whip_post(server, name, offer)
        assert status == 201, answer
        url, etag = server.base + headers["location"], headers["etag"]
        server_ufrag = re.search(r"a=ice-ufrag:(\S+)", answer)
        assert server_ufrag is not None and etag == f'"{server_ufrag[1]}"'

        # Refused without touching the session: a stale ETag, an ICE restart.
        assert (await patch(url, sdpfrag(full, [probe_line]), '"stale"'))[0] == 412
        restart = re.sub(r"a=ice-ufrag:\S+", "a=ice-ufrag:restart1", full)
        restart = re.sub(r"a=ice-pwd:\S+", "a=ice-pwd:restartrestartrestart12", restart)
        status, _, body = await patch(url, sdpfrag(restart, []), "*")
        assert status == 422 and b"restart" in body, body

        status, patched, body = await patch(url, sdpfrag(full, [probe_line]), etag)
        assert (status, body, patched["etag"]) == (204, b"", etag)
        loop = asyncio.get_running_loop()
        data = await asyncio.wait_for(loop.sock_recv(probe, 1500), 15)
        check = stun.parse_message(data)
        assert check.message_method == stun.Method.BINDING
        assert check.message_class == stun.Class.REQUEST
        username = check.attributes["USERNAME"]
        assert username.startswith(re.search(r"a=ice-ufrag:(\S+)", full)[1] + ":")  # type: ignore[index]

        await pub.answer(answer)
        entry = await wait_published(server, name)
        assert entry["status"] == "PUBLISHING"

        # A WHEP viewer trickles its candidates the same way.
        viewer = Viewer()
        view_offer = await viewer.offer()
        status, vh, body = await asyncio.to_thread(
            http,
            "POST",
            f"{server.base}/whep/{name}",
            strip_candidates(view_offer).encode(),
            {"Content-Type": "application/sdp"},
        )
        assert status == 201, body
        gathered = viewer.pc.localDescription.sdp  # with candidates
        status, _, _ = await patch(server.base + vh["location"], sdpfrag(gathered, []), vh["etag"])
        assert status == 204
        await viewer.answer(body.decode())
        await viewer.wait(frames=30, audio_s=1.5)
        check_viewer(viewer)
    finally:
        probe.close()
        if viewer is not None:
            await viewer.close()
        await pub.close()


GST_WHIP = Path(__file__).resolve().parents[1] / "peers" / "gst_whip.py"


async def test_gstreamer_webrtcbin_publishes_h264_and_opus_over_whip(wcs: WcsFactory) -> None:
    """A third WebRTC stack (GStreamer's webrtcbin: libnice ICE, its DTLS and RTP) publishes
    x264 H.264 + Opus over WHIP, trickling every candidate with PATCH (its offer has none);
    an aiortc viewer decodes both; the client's DELETE unpublishes. Its offer has the audio
    m-line bundle-only (port 0, RFC 8843): accepted as part of the bundle."""
    require_binary("gst-inspect-1.0", "gstreamer1.0-tools")
    # libnice neither gathers nor answers loopback: the media port listens on every
    # interface here, so our answer holds a host address besides 127.0.0.1.
    server = wcs(bind_ip="0.0.0.0")
    name = "gst_" + uuid.uuid4().hex[:8]
    proc = await asyncio.create_subprocess_exec(
        "/usr/bin/python3", str(GST_WHIP), f"{server.base}/whip/{name}",
        stdout=asyncio.subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    out: list[str] = []

    async def read_until(prefix: str) -> str:
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()  # type: ignore[union-attr]
            assert line, f"gst_whip.py ended: {out}"
            out.append(line.rstrip())
            if line.startswith(prefix):
                return line

    viewer: Viewer | None = None
    try:
        location = (await read_until("LOCATION ")).split()[1]
        assert location.startswith(f"/whip/{name}/")
        assert (await read_until("PATCH ")).split()[1] == "204"
        entry = await wait_published(server, name, timeout=30)
        assert (entry["videoCodec"], entry["audioCodec"]) == ("H264", "opus"), entry
        viewer = await whep_view(server, name)
        await viewer.wait(frames=30, audio_s=1.5)
        check_viewer(viewer)
        proc.send_signal(signal.SIGINT)
        assert (await read_until("DELETE ")).split()[1] == "200"
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        print("gst_whip.py:", out)
        assert all(line.split()[1] == "204" for line in out if line.startswith("PATCH "))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if viewer is not None:
            await viewer.close()
