"""Streams injected into SIP calls (``/call/inject_stream``), against real peers: the
`wcs serve` process calls baresip callees through Kamailio, aiortc publishes over WHIP.

- an aiortc publisher's Opus tone (WHIP) injected into a baresip call: baresip's recording
  of what it received shows the publisher's frequency, for PCMU, PCMA and Opus calls;
  ``/terminate`` → silence; injected again through the WCS 5.0 alias; the publisher leaves
  (WHIP DELETE) → an ``InjectStreamEvent`` says why and the call goes on with silence;
- two baresip calls bridged: each call's stream injected into the other, each callee's
  recording shows the other's tone;
- bad input: 404 call / stream, 409 ringing call, 400 naming the field; the call untouched.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ports import free_port
from tests.integration.conftest import HookCollector, WcsFactory, WcsProcess, call_body
from tests.integration.playback import http, stream_entries
from tests.integration.publishing import PUBLISH_TONE_HZ, Publisher
from tests.integration.test_call_participation import establish, new_id, wait_for
from tests.integration.test_dtmf_sound_core import windows
from tests.integration.test_playback_chromium import (  # noqa: F401 (fixtures)
    SIP_DRIVER,
    SIP_PAGE,
    npm_dir,
    run_driver,
    sdk_site,
)
from tests.integration.test_publish_aiortc import wait_published, whip_post
from tests.integration.test_publish_chromium import DRIVER as TWO_WAY_DRIVER
from tests.integration.test_publish_chromium import PAGE as TWO_WAY_PAGE
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback  # noqa: F401
from tests.peers.chromium import HEADLESS_FLAGS

pytestmark = [pytest.mark.peers]

LOUD = 500  # mean level of a window holding a tone (the tones are ~7600)
QUIET = 50  # and of silence (G.711/Opus silence decodes to 0..2)


async def whip_publish(server: WcsProcess, name: str, pub: Publisher) -> dict[str, str]:
    """``pub`` publishes ``name`` over WHIP; the answer's headers once it is publishing
    (H.264: its picture size known; VP8, whose size we do not parse: packets flowing)."""
    status, headers, answer = await whip_post(server, name, await pub.offer())
    assert status == 201, answer
    await pub.answer(answer)
    if pub.video_codec == "H264":
        await wait_published(server, name)
    else:

        def flowing() -> bool:
            return any(s["name"] == name and s["packetsReceived"] > 50
                       for s in stream_entries(server))  # fmt: skip

        await asyncio.to_thread(wait_for, flowing, 20, f"{name} publishing")
    return headers


def metric_value(server: WcsProcess, name: str) -> float:
    _, _, body = http("GET", f"{server.base}/metrics")
    (line,) = [ln for ln in body.decode().splitlines() if ln.startswith(name + " ")]
    return float(line.split()[-1])


def inject_events(hooks: HookCollector, cid: str) -> list[tuple[str, str, str]]:
    return [(e["status"], e["streamName"], e["info"]) for e in hooks.of(cid, "InjectStreamEvent")]


def loud_runs(rows: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """(first, last) window index of each run of loud windows."""
    runs: list[tuple[int, int]] = []
    for i, (_, level) in enumerate(rows):
        if level > LOUD:
            if runs and runs[-1][1] == i - 1:
                runs[-1] = (runs[-1][0], i)
            else:
                runs.append((i, i))
    return runs


def check_tone_runs(rows: list[tuple[float, float]], hz: int, count: int) -> None:
    """``count`` runs of ``hz`` (inner windows), silence elsewhere (edges may be partial)."""
    runs = loud_runs(rows)
    assert len(runs) == count, (runs, rows)
    edge: set[int] = set()
    for first, last in runs:
        assert last - first >= 5, (runs, rows)  # each run is a second or more of tone
        inner = rows[first + 1 : last]
        assert all(abs(f - hz) < 20 for f, _ in inner), (hz, rows[first : last + 1])
        edge.update(range(first - 1, last + 2))
    noisy = [(i, round(level)) for i, (_, level) in enumerate(rows)
             if i not in edge and level >= QUIET]  # fmt: skip
    assert not noisy, (runs, noisy)


@pytest.mark.asyncio
@pytest.mark.usefixtures("aiortc_on_loopback")
@pytest.mark.parametrize("codec", ["PCMU/8000/1", "PCMA/8000/1", "opus/48000/2"])
async def test_whip_publisher_injected_into_baresip_call(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, codec: str
) -> None:
    peer = callee(media="audio", audio_codecs=codec)
    server = wcs(rest_hooks=f"testApp={hooks.url}")
    rest = server.rest
    name = "pub_" + uuid.uuid4().hex[:8]
    pub = Publisher()
    try:
        headers = await whip_publish(server, name, pub)
        cid = await asyncio.to_thread(establish, server, hooks, kamailio, peer.user)
        await asyncio.sleep(0.5)  # silence first

        body = {"callId": cid, "streamName": name}
        assert await asyncio.to_thread(rest, "call/inject_stream/startup", body) == (200, None)
        _, found = await asyncio.to_thread(rest, "call/find", {"callId": cid})
        assert found[0]["injectedStream"] == name
        assert await asyncio.to_thread(metric_value, server, "wcs_call_injections") == 1
        await asyncio.sleep(2.0)
        stop = {"callId": cid}
        assert await asyncio.to_thread(rest, "call/inject_stream/terminate", stop) == (200, None)
        assert (await asyncio.to_thread(rest, "call/inject_stream/terminate", stop))[0] == 404
        await asyncio.sleep(1.0)  # silence between

        # The WCS 5.0 name, as the sip-as-rtmp-4 demo sends it.
        assert await asyncio.to_thread(rest, "call/inject_stream", body) == (200, None)
        await asyncio.sleep(2.0)
        # The publisher leaves: the injection ends, the call goes on with silence.
        location = headers["location"]
        status, _, _ = await asyncio.to_thread(http, "DELETE", server.base + location)
        assert status == 200
        await asyncio.to_thread(
            wait_for, lambda: len(inject_events(hooks, cid)) >= 4, 10, "the injection's end"
        )
        await asyncio.sleep(1.5)
        _, found = await asyncio.to_thread(rest, "call/find", {"callId": cid})
        assert found[0]["status"] == "ESTABLISHED" and found[0]["injectedStream"] is None
        assert await asyncio.to_thread(rest, "call/terminate", {"callId": cid}) == (200, None)
        await asyncio.to_thread(hooks.wait_status, cid, "FINISH")
    finally:
        await pub.close()
    events = inject_events(hooks, cid)
    assert [(s, n) for s, n, _ in events] == [("STARTED", name), ("STOPPED", name)] * 2, events
    assert events[1][2] == "Terminated by REST"
    assert events[3][2].startswith(f"Stream {name} ended"), events
    assert "FAILED" not in hooks.statuses(cid)
    peer.stop()  # baresip closes its recording
    assert peer.received_audio is not None
    check_tone_runs(windows(peer.received_audio), PUBLISH_TONE_HZ, 2)


def test_two_calls_bridged_each_hears_the_other(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    guest = callee(user="1002", media="audio", audio_codecs="PCMU/8000/1", tone_hz=1000)
    host = callee(user="1003", media="audio", audio_codecs="opus/48000/2", tone_hz=600)
    server = wcs(rest_hooks=f"testApp={hooks.url}")
    a = establish(server, hooks, kamailio, guest.user)
    b = establish(server, hooks, kamailio, host.user)
    time.sleep(0.5)
    assert server.rest("call/inject_stream/startup", {"callId": a, "streamName": f"s_{b}"}) == (
        200, None)  # fmt: skip
    assert server.rest("call/inject_stream/startup", {"callId": b, "streamName": f"s_{a}"}) == (
        200, None)  # fmt: skip
    time.sleep(2.5)
    for cid in (a, b):
        assert server.rest("call/inject_stream/terminate", {"callId": cid}) == (200, None)
    time.sleep(1.0)
    for cid in (a, b):
        assert server.rest("call/terminate", {"callId": cid}) == (200, None)
        hooks.wait_status(cid, "FINISH")
    guest.stop()
    host.stop()
    assert guest.received_audio is not None and host.received_audio is not None
    check_tone_runs(windows(guest.received_audio), 600, 1)  # the host's tone
    check_tone_runs(windows(host.received_audio), 1000, 1)  # the guest's tone


def test_bad_input_leaves_the_call_untouched(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    ringing = callee(user="1003", mode="noanswer", media="audio")
    peer = callee(media="audio", audio_codecs="PCMU/8000/1")
    server = wcs(rest_hooks=f"testApp={hooks.url}")
    cid = establish(server, hooks, kamailio, peer.user)
    stream = f"s_{cid}"

    def refused(path: str, body: dict[str, Any]) -> tuple[int, str | None]:
        status, answer = server.rest(path, body)
        return status, (answer or {}).get("field")

    start = "call/inject_stream/startup"
    assert refused(start, {"callId": "nope", "streamName": stream}) == (404, "callId")
    assert refused(start, {"callId": cid, "streamName": "nope"}) == (404, "streamName")
    assert refused(start, {"callId": cid}) == (400, "streamName")
    assert refused(start, {"streamName": stream}) == (400, "callId")
    assert refused(start, {"callId": cid, "streamName": "a/b"}) == (400, "streamName")
    assert refused("call/inject_stream", {"callId": cid, "streamName": ""}) == (400, "streamName")
    assert refused("call/inject_stream/terminate", {"callId": cid}) == (404, "callId")
    assert refused("call/inject_stream/terminate", {"callId": "nope"}) == (404, "callId")
    rid = new_id()
    body = call_body(kamailio, rid, ringing.user, hasVideo="false")
    assert server.rest("call/startup", body) == (200, None)
    hooks.wait_status(rid, "RING")
    assert refused(start, {"callId": rid, "streamName": stream})[0] == 409
    assert server.rest("call/terminate", {"callId": rid}) == (200, None)
    status, found = server.rest("call/find", {"callId": cid})
    assert status == 200 and found[0]["status"] == "ESTABLISHED"
    assert found[0]["injectedStream"] is None
    assert hooks.of(cid, "InjectStreamEvent") == []
    assert hooks.statuses(cid)[-1] == "ESTABLISHED"


@pytest.mark.asyncio
@pytest.mark.usefixtures("aiortc_on_loopback")
@pytest.mark.parametrize("source", ["H264", "VP8"])
async def test_publisher_video_into_an_h264_call(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, source: str
) -> None:
    """The call negotiated H.264 (baresip answers packetization-mode 0): baresip receives
    the publisher's video packets (its RTP statistics), only once injected: a browser's
    H.264 forwarded (repacketized as single NAL units), its VP8 transcoded; the audio goes in
    as before."""
    peer = callee(video_codecs="H264", audio_codecs="PCMU/8000/1")
    server = wcs(rest_hooks=f"testApp={hooks.url}")
    name = "pubv_" + uuid.uuid4().hex[:8]
    pub = Publisher(video_codec=source)
    try:
        await whip_publish(server, name, pub)
        cid = new_id()
        body = call_body(kamailio, cid, peer.user, toStream=f"s_{cid}")
        assert await asyncio.to_thread(server.rest, "call/startup", body) == (200, None)
        await asyncio.to_thread(hooks.wait_status, cid, "ESTABLISHED")
        await asyncio.sleep(1.0)
        inject = {"callId": cid, "streamName": name}
        assert await asyncio.to_thread(server.rest, "call/inject_stream/startup", inject) == (
            200, None)  # fmt: skip
        await asyncio.sleep(3.0)  # VP8: from the keyframe asked for at the switch
        _, found = await asyncio.to_thread(server.rest, "call/find", {"callId": cid})
        assert found[0]["injectedStream"] == name
        assert await asyncio.to_thread(server.rest, "call/terminate", {"callId": cid}) == (
            200, None)  # fmt: skip
        await asyncio.to_thread(hooks.wait_status, cid, "FINISH")
    finally:
        await pub.close()
    how = "as is" if source == "H264" else "VP8 → H.264"
    assert f"injected (video {how})" in server.log()
    await asyncio.to_thread(wait_for, lambda: "video" in peer.rtp_stats(), 10, "baresip stats")
    video = peer.rtp_stats()["video"]
    # 3 s of 25 fps H.264 (a few packets a frame); before the injection only our init packets.
    assert video["rx_packets"] > 75, video
    peer.stop()
    assert peer.received_audio is not None
    rows = windows(peer.received_audio)
    assert any(abs(hz - PUBLISH_TONE_HZ) < 20 and level > LOUD for hz, level in rows), rows


@pytest.mark.asyncio
@pytest.mark.usefixtures("aiortc_on_loopback")
async def test_websdk_sip_as_rtmp_4_inject_button(
    kamailio: Any,
    callee: Any,
    wcs: WcsFactory,
    hooks: HookCollector,
    chromium: Any,
    npm_dir: Path,  # noqa: F811
    sdk_site: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The official WebSDK page's "Stream injection to SIP call" works unchanged: it calls,
    its Inject button's /call/inject_stream gets 200 (the button turns to its "injected"
    state) and baresip hears the published stream's tone."""
    peer = callee(media="audio", audio_codecs="PCMU/8000/1")
    server = wcs(rest_hooks=f"testApp={hooks.url}")
    name = "page_" + uuid.uuid4().hex[:8]
    pub = Publisher()
    account = ("sipLogin", "sipAuthenticationName", "sipPassword", "sipDomain",
               "sipOutboundProxy", "sipPort", "appKey", "callee")  # fmt: skip
    body = call_body(kamailio, "unused", peer.user)
    form = {k: body[k] for k in account}
    form.update(restUrl=f"{server.base}/rest-api", rtmpStream="websdk_sip_inject")
    try:
        await whip_publish(server, name, pub)
        result = await asyncio.to_thread(
            run_driver, SIP_DRIVER, npm_dir, chromium, tmp_path / "udd", name, "3000",
            before=(f"{sdk_site}/{SIP_PAGE}", json.dumps(form), ""),  # no DTMF keys
        )  # fmt: skip
    finally:
        await pub.close()
    print("sip-as-rtmp-4 inject:", json.dumps(result))
    assert result["ok"], result
    assert [r["status"] for r in result["inject"]] == [200], result
    sent = json.loads(result["inject"][0]["body"])
    assert sent["streamName"] == name and sent["callId"]
    assert "btn-danger" in result["injectButton"]  # the page's "injected" state
    cid = sent["callId"]
    await asyncio.to_thread(hooks.wait_status, cid, "FINISH")
    assert [e[0] for e in inject_events(hooks, cid)][:1] == ["STARTED"]
    peer.stop()
    assert peer.received_audio is not None
    rows = windows(peer.received_audio)
    tone = [
        i for i, (hz, level) in enumerate(rows) if level > LOUD and abs(hz - PUBLISH_TONE_HZ) < 20
    ]
    assert len(tone) >= 10, rows  # a second or more of the publisher's tone


def test_two_way_page_publishes_and_the_sip_page_injects_it(
    kamailio: Any,
    callee: Any,
    wcs: WcsFactory,
    hooks: HookCollector,
    chromium: Any,
    npm_dir: Path,  # noqa: F811
    sdk_site: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Both official WebSDK pages, unchanged: Two Way Streaming publishes Chromium's fake
    microphone and camera over the WCS WebSocket; sip-as-rtmp-4 calls baresip and injects
    that stream with its Inject button; baresip hears the browser's audio."""
    peer = callee(media="audio", audio_codecs="PCMU/8000/1")
    ws_port = free_port()
    server = wcs(rest_hooks=f"testApp={hooks.url}", ws_port=ws_port)
    node = shutil.which("node")
    assert node, "node is not installed"
    flags = [f for f in HEADLESS_FLAGS if f != "--headless"]
    env = {"NODE_PATH": str(npm_dir / "node_modules"), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}  # fmt: skip
    # Publishes for 30 s after its own playback started, then stops (the driver's SECONDS).
    two_way = subprocess.Popen(
        [node, str(TWO_WAY_DRIVER), f"{sdk_site}/{TWO_WAY_PAGE}", f"ws://127.0.0.1:{ws_port}",
         str(tmp_path / "udd-publisher"), chromium.path, json.dumps(flags), "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:

        def browser_stream() -> str | None:
            found = [s["name"] for s in stream_entries(server)
                     if s["published"] and s["mediaProvider"] == "WebRTC"]  # fmt: skip
            return found[0] if found else None

        name = wait_for(browser_stream, 60, "the Two Way Streaming page's stream")
        account = ("sipLogin", "sipAuthenticationName", "sipPassword", "sipDomain",
                   "sipOutboundProxy", "sipPort", "appKey", "callee")  # fmt: skip
        body = call_body(kamailio, "unused", peer.user)
        form = {k: body[k] for k in account}
        form.update(restUrl=f"{server.base}/rest-api", rtmpStream="websdk_two_way_inject")
        result = run_driver(
            SIP_DRIVER, npm_dir, chromium, tmp_path / "udd-sip", name, "4000",
            before=(f"{sdk_site}/{SIP_PAGE}", json.dumps(form), ""),
        )  # fmt: skip
    finally:
        out, err = two_way.communicate(timeout=120)
    print("sip-as-rtmp-4 inject:", json.dumps(result))
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert lines, err[-3000:]
    published = json.loads(lines[-1][len("RESULT ") :])
    assert published["ok"], published
    assert result["ok"], result
    assert [r["status"] for r in result["inject"]] == [200], result
    cid = json.loads(result["inject"][0]["body"])["callId"]
    hooks.wait_status(cid, "FINISH")
    assert inject_events(hooks, cid)[0][:2] == ("STARTED", name)
    peer.stop()
    assert peer.received_audio is not None
    rows = windows(peer.received_audio)
    # Chromium's fake microphone beeps: loud windows while injected, silence otherwise.
    assert sum(level > LOUD for _, level in rows) >= 2, rows


BUILTIN_INJECT = Path(__file__).with_name("builtin_inject.cjs")


@pytest.mark.asyncio
@pytest.mark.usefixtures("aiortc_on_loopback")
async def test_builtin_page_injects_a_stream_into_a_call(
    kamailio: Any,
    callee: Any,
    wcs: WcsFactory,
    hooks: HookCollector,
    chromium: Any,
    npm_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Our page's "Inject into call" next to an established call, then "Stop injecting":
    baresip hears the WHIP publisher's tone in between, silence before and after."""
    peer = callee(media="audio", audio_codecs="PCMU/8000/1")
    server = wcs(rest_hooks=f"testApp={hooks.url}")
    name = "builtin_" + uuid.uuid4().hex[:8]
    pub = Publisher()
    try:
        await whip_publish(server, name, pub)
        cid = await asyncio.to_thread(establish, server, hooks, kamailio, peer.user)
        result = await asyncio.to_thread(
            run_driver, BUILTIN_INJECT, npm_dir, chromium, tmp_path / "udd",
            before=(f"{server.base}/", cid, name, "2500"),
        )  # fmt: skip
        await asyncio.sleep(1.0)
        assert await asyncio.to_thread(server.rest, "call/terminate", {"callId": cid}) == (
            200, None)  # fmt: skip
        await asyncio.to_thread(hooks.wait_status, cid, "FINISH")
    finally:
        await pub.close()
    print("built-in page inject:", json.dumps(result))
    assert result["ok"], result
    assert f"Stop injecting {name}" in result["injected"]
    assert "Inject into call" in result["stopped"]
    events = inject_events(hooks, cid)
    assert events == [("STARTED", name, f"Injected stream {name}"),
                      ("STOPPED", name, "Terminated by REST")]  # fmt: skip
    peer.stop()
    assert peer.received_audio is not None
    check_tone_runs(windows(peer.received_audio), PUBLISH_TONE_HZ, 1)
