"""IPv6 end to end: the server on ::1, Kamailio listening on [::1] (UDP and TCP), a baresip
callee registered over IPv6 (``-6``), RTP/RTCP over IPv6, and aiortc viewers on ::1 (WHEP and
the WCS WebSocket protocol). Also a dual-stack ``::`` bind serving IPv4 peers: no
IPv4-mapped address (``::ffff:a.b.c.d``) reaches Via, SDP or the stream's statistics.

A machine without an IPv6 loopback fails these tests (a missing capability is a failure)."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.ports import free_port
from tests.integration.conftest import HookCollector, WcsFactory, WcsProcess
from tests.integration.playback import (
    TONE_HZ,
    Viewer,
    http,
    stream_entries,
    whep_answer,
    ws_play,
)
from tests.integration.test_calls_real_peers import call_body, new_id, wait_gone
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback  # noqa: F401
from tests.integration.wcs_ws_client import WcsClient
from tests.peers.kamailio import Kamailio

pytestmark = [pytest.mark.peers]


def require_ipv6_loopback() -> None:
    """Fail (not skip) when ::1 cannot be bound: the feature cannot be shown here."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError as exc:
        pytest.fail(f"this machine has no IPv6 loopback (::1): {exc}")


@pytest.fixture
def kamailio6(kamailio_factory: Callable[..., Kamailio]) -> Kamailio:
    require_ipv6_loopback()
    return kamailio_factory(host="::1")


@pytest.fixture
def aiortc_on_ipv6_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # after aiortc_on_loopback (it runs first): aioice gathers on ::1 only
    monkeypatch.setattr("aioice.ice.get_host_addresses", lambda use_ipv4, use_ipv6: ["::1"])


def start6(wcs: WcsFactory, hooks: HookCollector, **settings: Any) -> WcsProcess:
    return wcs(bind_ip="::1", public_ip="::1", rest_hooks=f"testApp={hooks.url}", **settings)


def wait_stream(server: WcsProcess, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for s in stream_entries(server):
            ready = s["published"] and s["status"] == "PUBLISHING"
            if s["name"] == name and ready and s.get("hasVideo") and s.get("hasAudio"):
                return s
        time.sleep(0.1)
    raise AssertionError(f"stream {name} not published: {stream_entries(server)}")


def track_packets(server: WcsProcess, name: str) -> dict[str, int]:
    entry = next(s for s in stream_entries(server) if s["name"] == name and s["published"])
    stats = entry["mediaStats"]
    return {kind: int(stats[kind]["packets"]) for kind in ("audio", "video")}


def assert_packets_grow(server: WcsProcess, name: str) -> dict[str, Any]:
    """Both tracks receive packets, and keep receiving: the baseline is the first sample
    in which both have some (video may start a moment after audio)."""
    first: dict[str, int] | None = None
    now = track_packets(server, name)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = track_packets(server, name)
        if first is None:
            if all(v > 0 for v in now.values()):
                first = now
        elif all(now[k] > first[k] for k in first):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"packets did not grow on both tracks: {first} -> {now}")
    return next(s for s in stream_entries(server) if s["name"] == name and s["published"])


def assert_invite_ipv6(trace: str, sip_port: int, transport: str) -> None:
    """Our INVITE in baresip's SIP trace: bracketed sent-by and Contact, SDP IN IP6 (bare)."""
    start = trace.find("INVITE sip:1002")
    assert start >= 0, trace[-3000:]
    head, _, rest = trace[start:].partition("\nv=0\n")
    sdp_lines = ["v=0"]
    for line in rest.splitlines():
        if not re.match(r"[a-z]=", line):
            break
        sdp_lines.append(line)
    sdp = "\n".join(sdp_lines)
    via = rf"^Via: SIP/2\.0/{transport} \[::1\]:{sip_port};.*branch=z9hG4bK"
    assert re.search(via, head, re.M | re.I), head
    assert re.search(rf"^Contact: <sip:1001@\[::1\]:{sip_port}\b", head, re.M), head
    assert re.search(r"^o=\S+ \d+ \d+ IN IP6 ::1$", sdp, re.M), sdp
    assert re.search(r"^c=IN IP6 ::1$", sdp, re.M), sdp
    assert "[" not in sdp, "brackets inside the SDP"


@pytest.mark.asyncio
@pytest.mark.usefixtures("aiortc_on_loopback", "aiortc_on_ipv6_loopback")
@pytest.mark.parametrize("webrtc_workers", [0, 2], ids=["in-process", "workers2"])
async def test_udp_call_over_ipv6_played_by_whep(
    webrtc_workers: int, kamailio6: Kamailio, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    peer = callee(kamailio=kamailio6, tone_hz=TONE_HZ, sip_trace=True)
    assert "[::1]" in (kamailio6.contact(peer.user) or ""), kamailio6.contact(peer.user)
    server = start6(wcs, hooks)
    cid = new_id()
    body = call_body(kamailio6, cid, peer.user, sipRegisterRequired="true")
    assert body["sipOutboundProxy"] == "::1"
    assert await asyncio.to_thread(server.rest, "call/startup", body) == (200, None)
    await asyncio.to_thread(hooks.wait_status, cid, "ESTABLISHED")
    # registered over IPv6: Kamailio holds our contact with a bracketed ::1
    contact = kamailio6.contact("1001") or ""
    assert re.match(rf"sip:1001@\[::1\]:{server.sip_port}\b", contact), contact
    name = f"stream_{cid}"
    await asyncio.to_thread(wait_stream, server, name)
    entry = await asyncio.to_thread(assert_packets_grow, server, name)
    # symmetric RTP learned the callee's IPv6 source on both tracks
    for kind in ("audio", "video"):
        remote = str(entry["mediaStats"][kind]["remote"])
        assert remote.startswith("::1") or remote.startswith("[::1]"), entry["mediaStats"][kind]
    # the INVITE as the callee got it (baresip -s): our Via, Contact and SDP over IPv6
    assert_invite_ipv6(peer.log, server.sip_port, "UDP")
    assert "::ffff:" not in server.log()

    viewer = Viewer()
    try:
        text, location = await whep_answer(server.base, name, await viewer.offer())
        assert re.search(r"a=candidate:\S+ 1 udp \d+ ::1 \d+ typ host", text), text
        assert "c=IN IP6 ::1" in text, text
        await viewer.answer(text)
        await viewer.wait(frames=20, audio_s=1.0)
        assert viewer.sizes == {(352, 288)}
        assert abs(viewer.dominant_hz() - TONE_HZ) <= 0.02 * TONE_HZ
        entries = await asyncio.to_thread(stream_entries, server)
        [played] = [e for e in entries if not e["published"]]
        # served by a media worker when there are workers (its entry says which)
        assert (played["webrtc"].get("worker") is not None) == (webrtc_workers > 0), played
        status, _, _ = await asyncio.to_thread(http, "DELETE", server.base + location)
        assert status == 200
    finally:
        await viewer.close()

    assert await asyncio.to_thread(server.rest, "call/terminate", {"callId": cid}) == (200, None)
    finish = await asyncio.to_thread(hooks.wait_status, cid, "FINISH")
    assert finish["info"] == "Normal call clearing"
    await asyncio.to_thread(wait_gone, server, cid)
    assert re.search(r"BYE sip:1002\S*@\[::1\]:\d+", server.log()), "no BYE to the IPv6 contact"


@pytest.mark.asyncio
@pytest.mark.usefixtures("aiortc_on_loopback", "aiortc_on_ipv6_loopback")
async def test_tcp_call_over_ipv6_played_by_ws_protocol(
    kamailio6: Kamailio, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    peer = callee(kamailio=kamailio6, transport="tcp", tone_hz=TONE_HZ, sip_trace=True)
    ws_port = free_port()
    server = start6(wcs, hooks, ws_port=ws_port)
    cid = new_id()
    body = call_body(kamailio6, cid, peer.user, sipTransport="TCP", sipRegisterRequired="true")
    assert await asyncio.to_thread(server.rest, "call/startup", body) == (200, None)
    await asyncio.to_thread(hooks.wait_status, cid, "ESTABLISHED")
    contact = (kamailio6.contact("1001") or "").lower()
    assert "[::1]" in contact and "transport=tcp" in contact, contact
    name = f"stream_{cid}"
    await asyncio.to_thread(wait_stream, server, name)
    await asyncio.to_thread(assert_packets_grow, server, name)
    assert_invite_ipv6(peer.log, server.sip_port, "TCP")

    client = WcsClient(server.host, ws_port)
    viewer = Viewer()
    try:
        await client.connect()
        client.send("connection", {"appKey": "defaultApp"})
        await client.recv("getUserData")
        await ws_play(client, name, viewer)
        await viewer.wait(frames=20, audio_s=1.0)
        assert viewer.sizes == {(352, 288)}
    finally:
        await viewer.close()
        await client.close()

    peer.hangup()  # the callee's BYE reaches us over the TCP connection through Kamailio
    finish = await asyncio.to_thread(hooks.wait_status, cid, "FINISH")
    assert finish["info"] == "Normal call clearing"
    await asyncio.to_thread(wait_gone, server, cid)


def test_cancel_over_ipv6(
    kamailio6: Kamailio, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    peer = callee(kamailio=kamailio6, mode="noanswer")
    server = start6(wcs, hooks)
    cid = new_id()
    assert server.rest("call/startup", call_body(kamailio6, cid, peer.user))[0] == 200
    assert hooks.wait_status(cid, "RING")["sipStatus"] == 180
    assert server.rest("call/terminate", {"callId": cid}) == (200, None)
    hooks.wait_status(cid, "FINISH")
    wait_gone(server, cid)
    assert re.search(r"CANCEL sip:1002@", server.log())
    assert "ESTABLISHED" not in hooks.statuses(cid)


@pytest.mark.asyncio
@pytest.mark.usefixtures("aiortc_on_loopback")
async def test_dual_stack_bind_serves_ipv4_peers_without_mapped_addresses(
    kamailio: Kamailio, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    require_ipv6_loopback()
    peer = callee(tone_hz=TONE_HZ)
    # "::" takes IPv4 too; what we advertise is public_ip (IPv4 here, as the peers are)
    server = wcs(bind_ip="::", public_ip="127.0.0.1", rest_hooks=f"testApp={hooks.url}")
    assert server.host == "::1"
    status, _ = await asyncio.to_thread(http_get4, server)
    assert status == 200  # REST answers on IPv4 as well as on ::1
    cid = new_id()
    body = call_body(kamailio, cid, peer.user, sipRegisterRequired="true")
    assert (await asyncio.to_thread(server.rest, "call/startup", body))[0] == 200
    await asyncio.to_thread(hooks.wait_status, cid, "ESTABLISHED")
    name = f"stream_{cid}"
    await asyncio.to_thread(wait_stream, server, name)
    entry = await asyncio.to_thread(assert_packets_grow, server, name)
    for kind in ("audio", "video"):
        remote = str(entry["mediaStats"][kind]["remote"])
        assert remote.startswith("127.0.0.1:"), entry["mediaStats"][kind]

    # an IPv4 WHEP viewer (aiortc on 127.0.0.1) through the dual-stack ICE socket
    viewer = Viewer()
    try:
        offer = await viewer.offer()
        status, _, answer = await asyncio.to_thread(
            http, "POST", f"http://127.0.0.1:{server.http_port}/whep/{name}", offer.encode(),
            {"Content-Type": "application/sdp"},
        )  # fmt: skip
        assert status == 201, answer
        assert "::ffff:" not in answer.decode()
        await viewer.answer(answer.decode())
        await viewer.wait(frames=20, audio_s=1.0)
        assert viewer.sizes == {(352, 288)}
    finally:
        await viewer.close()

    peer.hangup()  # Kamailio's BYE arrives on the dual-stack socket from 127.0.0.1
    await asyncio.to_thread(hooks.wait_status, cid, "FINISH")
    await asyncio.to_thread(wait_gone, server, cid)
    # aioice's own DEBUG lines name the socket-level (mapped) destination; nothing else may
    ours = [ln for ln in server.log().splitlines() if " aioice." not in ln]
    assert not [ln for ln in ours if "::ffff:" in ln.lower()]
    # our SIP reached Kamailio over IPv4 from the dual-stack socket
    src = rf"REQ REGISTER sip:\S+ from=sip:1001@\S+ .*src=127\.0\.0\.1:{server.sip_port}/udp"
    assert re.search(src, kamailio.log_text()), "no IPv4 REGISTER from our SIP port"


def http_get4(server: WcsProcess) -> tuple[int, bytes]:
    status, _, body = http("GET", f"http://127.0.0.1:{server.http_port}/health")
    return status, body


def test_demo_callee_over_ipv6(wcs: WcsFactory, hooks: HookCollector) -> None:
    """The built-in demo callee follows the bind's family: on ::1 its call works end to end."""
    require_ipv6_loopback()
    server = start6(wcs, hooks, demo_callee="true")
    cid = new_id()
    body = {"callId": cid, "callee": "demo", "toStream": f"stream_{cid}", "appKey": "testApp"}
    assert server.rest("call/startup", body) == (200, None)
    hooks.wait_status(cid, "ESTABLISHED")
    name = f"stream_{cid}"
    wait_stream(server, name)
    entry = assert_packets_grow(server, name)
    assert str(entry["mediaStats"]["video"]["remote"]).startswith("[::1]:")
    assert server.rest("call/terminate", {"callId": cid}) == (200, None)
    hooks.wait_status(cid, "FINISH")
    assert "demo callee: sip:demo@[::1]:" in server.log()
