"""WHIP/WHEP trickle ICE (RFC 9725 4.3) against a live server: an aiortc publisher offers
without candidates and trickles them with PATCH; the server's ICE agent gets them (it sends
connectivity checks to a trickled candidate the test listens on), the session connects and
an aiortc viewer decodes the stream. A WHEP viewer trickles the same way."""

from __future__ import annotations

import asyncio
import re
import socket
import uuid

import pytest
from aioice import stun

from tests.integration.conftest import WcsFactory
from tests.integration.playback import Viewer, http
from tests.integration.publishing import Publisher
from tests.integration.test_publish_aiortc import check_viewer, wait_published, whip_post
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback, strip_candidates  # noqa: F401

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
