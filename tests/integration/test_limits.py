"""Issue 18 limits against the real ``wcs serve`` process, over loopback sockets.

The file-descriptor case reproduces the report: under ``ulimit -n 256`` 260 idle SIP TCP
connections made REST time out and wrote 117 796 ERROR lines in 10 s. The server runs
here with RLIMIT_NOFILE 256 (set in the child before exec), the test holds 260 idle SIP TCP
connections open, and REST must still answer while the log stays a few lines long.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import urllib.error
import urllib.request
import uuid

import pytest

from tests.fixtures.ports import free_port
from tests.integration.conftest import WcsFactory
from tests.integration.playback import Viewer
from tests.integration.wcs_ws_client import WcsClient

FD_LIMIT = 256
IDLE_SIP_CONNECTIONS = 260


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def _get(port: int, path: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def _metric(text: str, name: str, labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{labels}}} not in /metrics")


def test_idle_sip_tcp_connections_under_a_low_fd_limit_leave_rest_answering(
    wcs: WcsFactory,
) -> None:
    server = wcs(demo_callee="false", preexec_fn=_limit_fds)
    http_port, sip_port, log = server.http_port, server.sip_port, server.log_path
    lines_before = len(log.read_text().splitlines())
    held: list[socket.socket] = []
    try:
        for _ in range(IDLE_SIP_CONNECTIONS):
            held.append(socket.create_connection(("127.0.0.1", sip_port), timeout=10))
        for _ in range(3):  # a few REST rounds while all of them are held
            status, body = _get(http_port, "/health")
            assert status == 200, body
        status, metrics = _get(http_port, "/metrics")
        assert status == 200
        refused = _metric(metrics, "wcs_limit_rejections_total", 'limit="sip_tcp_connections"')
        allowed = _metric(metrics, "wcs_limit", 'limit="sip_tcp_connections"')
        in_use = _metric(metrics, "wcs_limit_in_use", 'limit="sip_tcp_connections"')
    finally:
        for s in held:
            s.close()
    assert 0 < allowed < FD_LIMIT  # the total was fitted to the descriptors
    assert in_use == allowed
    assert refused == IDLE_SIP_CONNECTIONS - allowed
    text = log.read_text()
    new_lines = text.splitlines()[lines_before:]
    print(f"fd limit {FD_LIMIT}: {IDLE_SIP_CONNECTIONS} idle SIP TCP connections, "
          f"{allowed:g} kept, {refused:g} refused, {len(new_lines)} log lines")  # fmt: skip
    assert "ERROR" not in text and "Too many open files" not in text
    assert len(new_lines) < 20, new_lines[:30]


async def _play(client: WcsClient, name: str) -> tuple[str, dict[str, object]]:
    """playStream with a real (aiortc) offer: (mediaSessionId, its first status frame)."""
    viewer = Viewer()
    msid = str(uuid.uuid1())
    offer = await viewer.offer()
    await viewer.close()  # only the offer is needed: PLAYING comes before ICE
    client.send(
        "playStream",
        {"mediaSessionId": msid, "name": name, "mediaProvider": "WebRTC", "sdp": offer},
    )
    while True:
        frame = await client.recv("notifyStreamStatusEvent")
        data = dict(frame["data"][0])
        if data["mediaSessionId"] == msid:
            return msid, data


@pytest.mark.asyncio
async def test_viewers_per_ws_session_are_limited_with_a_clear_failure(wcs: WcsFactory) -> None:
    """One WebSocket session could open unlimited viewers (1 000 playStreams exhausted the
    media ports). Now play N+1 of one session is FAILED naming the limit, another session
    is not affected, and a stopped play frees its place."""
    ws_port = free_port()
    server = wcs(ws_port=ws_port, ws_max_viewers_per_session=2)
    status, _ = server.rest("call/startup", {"callId": "lim", "callee": "demo", "toStream": "lim"})
    assert status == 200
    for _ in range(200):
        status, found = server.rest("stream/find", {"name": "lim"})
        if status == 200 and found and found[0].get("status") == "PUBLISHING":
            break
        await asyncio.sleep(0.1)
    client, other = WcsClient("127.0.0.1", ws_port), WcsClient("127.0.0.1", ws_port)
    try:
        for c in (client, other):
            await c.connect()
            c.send("connection", {"appKey": "defaultApp", "mediaProviders": ["WebRTC"]})
            await c.recv("getUserData", timeout=10)
        first, s1 = await _play(client, "lim")
        _, s2 = await _play(client, "lim")
        _, s3 = await _play(client, "lim")
        assert [s1["status"], s2["status"]] == ["PLAYING", "PLAYING"], (s1, s2)
        assert s3["status"] == "FAILED", s3
        assert s3["info"] == "Too many viewers in this session (limit 2)"
        assert (await _play(other, "lim"))[1]["status"] == "PLAYING"  # per session
        client.send("stopStream", {"mediaSessionId": first, "name": "lim"})
        while (await client.recv("notifyStreamStatusEvent"))["data"][0]["status"] != "STOPPED":
            pass
        assert (await _play(client, "lim"))[1]["status"] == "PLAYING"
    finally:
        await client.close()
        await other.close()
    _, metrics = _get(server.http_port, "/metrics")
    assert _metric(metrics, "wcs_limit_rejections_total", 'limit="ws_viewers_per_session"') == 1
