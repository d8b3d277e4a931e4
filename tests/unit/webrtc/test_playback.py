"""Viewer glue and WHEP routes, with the real hub, a real Chrome offer and a bound UDP port
(no browser: the peers never connect unless a test says they did)."""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.webrtc.chrome_offer import CHROME_OFFER
from tests.unit.webrtc.hub import Hub
from wcs.app.streams import PublisherControl, StreamHub, TrackInfo
from wcs.rest.auth import Authenticator
from wcs.rest.dispatch import Dispatcher
from wcs.rest.http import Headers, Request, Router
from wcs.rest.views import viewer_json
from wcs.webrtc import events
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.peer import ViewerPeer
from wcs.webrtc.transport import PeerSettings
from wcs.webrtc.viewer import Playback, PlaybackError, Viewer
from wcs.webrtc.whep import add_whep_routes

pytestmark = pytest.mark.asyncio

CERT = Certificate.generate()
TRACKS = {
    "audio": TrackInfo("audio", "PCMU", 8000, payload_type=0),
    "video": TrackInfo(
        "video",
        "H264",
        90000,
        fmtp="profile-level-id=42e01f;packetization-mode=1",
        payload_type=96,
    ),
}


def make(
    published: bool = True, on_keyframe_request: Callable[[], None] | None = None
) -> tuple[Hub, Playback]:
    hub = Hub()
    if published:
        control = PublisherControl(request_keyframe=on_keyframe_request)
        pub = hub.publish("s1", call_id="c1", app_key="app", control=control)
        pub.set_tracks(dict(TRACKS))
    return hub, Playback(hub, PeerSettings(CERT, bind_ip="127.0.0.1"), tracks_timeout=0.2)


def rtp(pt: int, seq: int, ts: int, payload: bytes = b"\x00" * 160) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, ts, 1234) + payload


def viewer_entries(playback: Playback) -> list[dict[str, Any]]:
    return [viewer_json(v) for v in playback.viewers.values()]


# --- Playback / Viewer -----------------------------------------------------------------


async def test_play_answers_and_lists_the_viewer() -> None:
    _, playback = make()
    ended: list[tuple[str, str]] = []
    viewer, answer = await playback.play(
        "s1", CHROME_OFFER, "m1", on_end=lambda s, i: ended.append((s, i))
    )
    try:
        assert "a=candidate:" in answer and "a=sendonly" in answer
        assert "127.0.0.1" in answer
        [entry] = viewer_entries(playback)
        assert entry["published"] is False and entry["status"] == "PLAYING"
        assert entry["name"] == "s1" and entry["mediaSessionId"] == "m1"
        assert playback.get("m1") is viewer
        with pytest.raises(PlaybackError) as exc:
            await playback.play("s1", CHROME_OFFER, "m1")
        assert exc.value.info == "MediaSessionId is already in use"
    finally:
        assert await playback.stop("m1")
    assert ended == [("STOPPED", "Stopped by user")]
    assert viewer_entries(playback) == [] and playback.viewers == {}
    assert viewer.peer.state == events.CLOSED
    assert not await playback.stop("m1")


async def test_unknown_or_trackless_stream_is_not_found() -> None:
    hub, playback = make(published=False)
    with pytest.raises(PlaybackError) as exc:
        await playback.play("nope", CHROME_OFFER, "m1")
    assert (exc.value.info, exc.value.http_status) == ("Stream not found", 404)
    hub.publish("late", call_id=None, app_key="a")  # no tracks within tracks_timeout
    with pytest.raises(PlaybackError) as exc:
        await playback.play("late", CHROME_OFFER, "m2")
    assert exc.value.info == "Stream not found"
    assert playback.viewers == {}


async def test_bad_offer_is_a_playback_error() -> None:
    _, playback = make()
    with pytest.raises(PlaybackError) as exc:
        await playback.play("s1", "v=0\r\ngarbage", "m1")
    assert exc.value.http_status == 400
    assert playback.viewers == {}


async def test_publisher_stop_ends_viewer() -> None:
    hub, playback = make()
    ended: list[tuple[str, str]] = []
    viewer, _ = await playback.play(
        "s1", CHROME_OFFER, "m1", on_end=lambda s, i: ended.append((s, i))
    )
    sent: list[tuple[str, bytes]] = []
    viewer.peer.send_rtp = lambda kind, pkt: sent.append((kind, pkt))  # type: ignore[method-assign,assignment]
    stream = hub.get("s1")
    assert stream is not None
    hub.pubs["s1"].feed_rtp("audio", rtp(0, 1, 160), 160)
    assert sent == []  # not connected: not subscribed yet
    viewer._on_peer_state(events.PeerStateChanged(events.CONNECTED))
    assert stream.subscribers == 1
    hub.pubs["s1"].feed_rtp("audio", rtp(0, 2, 320), 320)
    assert sent == [("audio", rtp(0, 2, 320))]
    hub.pubs["s1"].unpublish("call ended")
    await asyncio.gather(*playback.background)
    assert ended == [("STOPPED", "Stopped by publisher stop")]
    assert playback.viewers == {}
    assert viewer.peer.state == events.CLOSED


async def test_peer_failure_ends_viewer_with_its_info() -> None:
    hub, playback = make()
    ended: list[tuple[str, str]] = []
    viewer, _ = await playback.play(
        "s1", CHROME_OFFER, "m1", on_end=lambda s, i: ended.append((s, i))
    )
    viewer._on_peer_state(events.PeerStateChanged(events.CONNECTED))
    viewer._on_peer_state(events.PeerStateChanged(events.FAILED, events.ICE_KEEP_ALIVE))
    await asyncio.gather(*playback.background)
    assert ended == [("FAILED", "Failed by ICE keep alive")]
    stream = hub.get("s1")
    assert stream is not None and stream.subscribers == 0
    assert playback.viewers == {}


async def test_viewer_keyframe_requests_go_to_the_stream() -> None:
    asked: list[int] = []
    _, playback = make(on_keyframe_request=lambda: asked.append(1))
    viewer, _ = await playback.play("s1", CHROME_OFFER, "m1")
    assert viewer.peer.on_keyframe_request is not None
    viewer.peer.on_keyframe_request()
    assert asked == [1]
    await playback.close()


async def test_shutdown_closes_every_viewer() -> None:
    _, playback = make()
    ended: list[tuple[str, str]] = []
    viewers: list[Viewer] = []
    for i in range(3):
        v, _ = await playback.play(
            "s1", CHROME_OFFER, f"m{i}", on_end=lambda s, i: ended.append((s, i))
        )
        viewers.append(v)
    await playback.close()
    assert ended == [("STOPPED", "Stopped by server shutdown")] * 3
    assert all(v.peer.state == events.CLOSED for v in viewers)
    assert playback.viewers == {}


async def test_opus_only_browser_gets_one_shared_transcoder() -> None:
    # A browser offering no G.711: the audio m-line is answered with opus.
    offer = re.sub(
        r"m=audio 9 UDP/TLS/RTP/SAVPF [0-9 ]+", "m=audio 9 UDP/TLS/RTP/SAVPF 111", CHROME_OFFER
    )
    hub, playback = make()
    stream = hub.get("s1")
    assert stream is not None
    got: dict[str, list[bytes]] = {"a": [], "b": []}
    viewers = []
    for key in got:
        v, answer = await playback.play("s1", offer, key)
        assert v.peer.needs_audio_transcode
        assert "opus/48000" in answer
        v.peer.send_rtp = lambda kind, pkt, key=key: got[key].append(pkt)  # type: ignore[method-assign,misc]
        v._on_peer_state(events.PeerStateChanged(events.CONNECTED))
        viewers.append(v)
    assert len(playback.transcoders) == 1
    # The transcoder and the two viewers (for video) are the stream's sinks.
    assert stream.subscribers == 3
    for i in range(20):
        hub.pubs["s1"].feed_rtp("audio", rtp(0, i, i * 160, bytes([0xFF]) * 160), i * 160)
    assert got["a"] and got["a"] == got["b"]  # the same opus packets, made once
    assert all(p[1] & 0x7F == 111 for p in got["a"])
    await playback.close()
    assert playback.transcoders == {} and stream.subscribers == 0


# --- WHEP -------------------------------------------------------------------------------


def whep(playback: Playback, auth: str = "") -> Dispatcher:
    router = Router()
    add_whep_routes(router, playback)
    return Dispatcher(router, Authenticator(auth), "*")


def req(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> Request:
    return Request(method, path, {}, Headers(headers or {}), body)


SDP = {"content-type": "application/sdp"}


async def test_whep_post_and_delete() -> None:
    _, playback = make()
    d = whep(playback)
    resp = await d.handle(req("POST", "/whep/s1", CHROME_OFFER.encode(), SDP))
    assert resp.status == 201
    assert resp.headers.get("content-type") == "application/sdp"
    assert resp.headers.get("access-control-allow-origin") == "*"
    assert resp.headers.get("access-control-expose-headers") == "Location, ETag"
    assert re.fullmatch(r'"[^"]+"', resp.headers.get("etag") or "")
    location = resp.headers.get("location") or ""
    assert re.fullmatch(r"/whep/s1/[0-9a-f-]{36}", location)
    assert b"a=candidate:" in resp.body
    [entry] = viewer_entries(playback)
    assert entry["mediaSessionId"] == location.rsplit("/", 1)[1]
    assert entry["mediaProvider"] == "WHEP"
    assert (
        await d.handle(req("DELETE", "/whep/other/" + location.rsplit("/", 1)[1]))
    ).status == 404
    assert (await d.handle(req("DELETE", location))).status == 200
    assert playback.viewers == {}
    assert (await d.handle(req("DELETE", location))).status == 404


async def test_whep_errors() -> None:
    _, playback = make()
    d = whep(playback)
    assert (await d.handle(req("POST", "/whep/nosuch", CHROME_OFFER.encode(), SDP))).status == 404
    assert (
        await d.handle(
            req("POST", "/whep/s1", CHROME_OFFER.encode(), {"content-type": "application/json"})
        )
    ).status == 415
    assert (await d.handle(req("POST", "/whep/s1", b"", SDP))).status == 400
    assert (await d.handle(req("POST", "/whep/s1", b"\xff\xfe", SDP))).status == 400
    assert (await d.handle(req("POST", "/whep/s1", b"v=0\r\nnonsense\r\n", SDP))).status == 400
    assert (await d.handle(req("PATCH", "/whep/s1/x"))).status == 404  # no such session
    assert playback.viewers == {}


async def test_whep_patch_trickles_into_the_viewer_ice() -> None:
    _, playback = make()
    d = whep(playback)
    resp = await d.handle(req("POST", "/whep/s1", CHROME_OFFER.encode(), SDP))
    location, etag = resp.headers["location"], resp.headers["etag"]
    frag = b"a=mid:0\r\na=candidate:7 1 udp 2113937151 127.0.0.1 40500 typ host\r\n"
    ctype = {"content-type": "application/trickle-ice-sdpfrag"}
    assert (
        await d.handle(req("PATCH", location, frag, {**ctype, "if-match": '"x"'}))
    ).status == 412
    ok = await d.handle(req("PATCH", location, frag, {**ctype, "if-match": etag}))
    assert ok.status == 204
    [viewer] = playback.viewers.values()
    assert isinstance(viewer.peer, ViewerPeer)
    assert ("127.0.0.1", 40500) in viewer.peer.ice.remote_candidates
    await d.handle(req("DELETE", location))


async def test_whep_preflight_and_auth() -> None:
    _, playback = make()
    d = whep(playback, auth="token:s3cret")
    pre = await d.handle(req("OPTIONS", "/whep/s1"))
    assert pre.status == 204
    assert "POST" in (pre.headers.get("access-control-allow-methods") or "")
    assert "content-type" in (pre.headers.get("access-control-allow-headers") or "")
    assert (await d.handle(req("POST", "/whep/s1", CHROME_OFFER.encode(), SDP))).status == 401
    ok = await d.handle(
        req("POST", "/whep/s1", CHROME_OFFER.encode(), {**SDP, "authorization": "Bearer s3cret"})
    )
    assert ok.status == 201
    assert b"s3cret" not in ok.body
    await playback.close()


async def test_terminate_from_rest_stops_the_viewer() -> None:
    _, playback = make()
    ended: list[tuple[str, str]] = []
    viewer, _ = await playback.play(
        "s1", CHROME_OFFER, "m1", on_end=lambda s, i: ended.append((s, i))
    )
    viewer.terminate()
    await asyncio.gather(*playback.background)
    assert ended == [("STOPPED", "Stopped by rest /terminate")]
    assert playback.viewers == {}


async def test_viewer_that_never_checks_fails_by_ice_timeout() -> None:
    hub = StreamHub()
    hub.publish("s1", call_id=None, app_key="a").set_tracks(dict(TRACKS))
    playback = Playback(hub, PeerSettings(CERT, bind_ip="127.0.0.1", ice_timeout=0.2))
    done = asyncio.Event()
    ended: list[tuple[str, str]] = []

    def on_end(status: str, info: str) -> None:
        ended.append((status, info))
        done.set()

    viewer, _ = await playback.play("s1", CHROME_OFFER, "m1", on_end=on_end)
    await asyncio.wait_for(done.wait(), 5)
    assert ended == [("FAILED", "Failed by ICE timeout")]
    assert playback.viewers == {}
    assert viewer.peer.state == events.FAILED


class Hooks:
    def __init__(self) -> None:
        self.posted: list[tuple[str | None, str, dict[str, Any]]] = []

    def post(self, app_key: str | None, method: str, body: dict[str, Any]) -> None:
        self.posted.append((app_key, method, body))


async def test_whep_viewer_hooks_go_to_the_streams_app_key() -> None:
    _, playback = make()
    hooks = Hooks()
    playback.hooks = hooks
    d = whep(playback)
    resp = await d.handle(req("POST", "/whep/s1", CHROME_OFFER.encode(), SDP))
    location = resp.headers.get("location") or ""
    msid = location.rsplit("/", 1)[1]
    assert viewer_entries(playback)[0]["appKey"] == "app"  # the stream's
    assert (await d.handle(req("DELETE", location))).status == 200
    assert [
        (k, m, b["mediaSessionId"], b["status"], b["info"], b["mediaProvider"])
        for k, m, b in hooks.posted
    ] == [
        ("app", "StreamStatusEvent", msid, "PLAYING", None, "WHEP"),
        ("app", "StreamStatusEvent", msid, "STOPPED", "Stopped by user", "WHEP"),
    ]
    # An unknown stream has no owner: 404 and no hook.
    assert (await d.handle(req("POST", "/whep/nosuch", CHROME_OFFER.encode(), SDP))).status == 404
    assert len(hooks.posted) == 2


async def test_viewer_failure_is_one_failed_hook() -> None:
    _, playback = make()
    hooks = Hooks()
    playback.hooks = hooks
    viewer, _ = await playback.play("s1", CHROME_OFFER, "m1", app_key="k")
    viewer._on_peer_state(events.PeerStateChanged(events.FAILED, events.ICE_KEEP_ALIVE))
    viewer._on_peer_state(events.PeerStateChanged(events.CLOSED))
    await asyncio.gather(*playback.background)
    await viewer.close()  # already closed: nothing more
    assert [(k, b["status"], b["info"]) for k, _, b in hooks.posted] == [
        ("k", "PLAYING", None),
        ("k", "FAILED", "Failed by ICE keep alive"),
    ]
    # A duplicate id belongs to a live viewer: refused without a hook.
    await playback.play("s1", CHROME_OFFER, "m2", app_key="k")
    with pytest.raises(PlaybackError):
        await playback.play("s1", CHROME_OFFER, "m2", app_key="k")
    with pytest.raises(PlaybackError):
        await playback.play("s1", "v=0\r\ngarbage", "m3", app_key="k")
    assert [(b["mediaSessionId"], b["status"]) for _, _, b in hooks.posted[2:]] == [
        ("m2", "PLAYING"),
        ("m3", "FAILED"),
    ]
    await playback.close()


async def test_whep_viewers_per_address_are_limited_and_freed() -> None:
    from wcs.limits import Quota

    _, playback = make()
    quota = Quota("test_whep_viewers", 0, 2)
    router = Router()
    add_whep_routes(router, playback, quota)
    d = Dispatcher(router, Authenticator(""), "*")

    def post(ip: str) -> Request:
        r = req("POST", "/whep/s1", CHROME_OFFER.encode(), SDP)
        r.client = (ip, 40000)
        return r

    first = await d.handle(post("10.0.0.1"))
    assert (await d.handle(post("10.0.0.1"))).status == 201
    refused = await d.handle(post("10.0.0.1"))
    assert refused.status == 429 and b"limit 2" in refused.body
    assert (await d.handle(post("10.0.0.2"))).status == 201  # per address
    assert (await d.handle(req("DELETE", first.headers.get("location") or ""))).status == 200
    assert quota.held("10.0.0.1") == 1  # the ended viewer gave its place back
    assert (await d.handle(post("10.0.0.1"))).status == 201
    nosuch = req("POST", "/whep/nosuch", CHROME_OFFER.encode(), SDP)
    nosuch.client = ("10.0.0.3", 1)
    assert (await d.handle(nosuch)).status == 404
    assert quota.held("10.0.0.3") == 0  # a refused play holds nothing
    await playback.close()
