"""Ingest glue and WHIP routes with the real hub, a real Chrome-style publish offer and a bound
UDP port (no browser: the peers never connect), plus auth and the refusals."""

from __future__ import annotations

import asyncio
import re
import socket

import pytest

from wcs.app.streams import StreamHub, StreamStatus
from wcs.rest.auth import Authenticator
from wcs.rest.dispatch import Dispatcher
from wcs.rest.http import Headers, Request, Router
from wcs.rest.views import stream_json
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.publisher import STREAM_NAME_TAKEN, Ingest, PublishError
from wcs.webrtc.transport import PeerSettings
from wcs.webrtc.whip import add_whip_routes

from .chrome_offer import CHROME_OFFER
from .test_ingest import PUBLISH_OFFER

pytestmark = pytest.mark.asyncio

CERT = Certificate.generate()
SDP = {"content-type": "application/sdp"}


def make(ice_timeout: float = 30.0) -> tuple[StreamHub, Ingest]:
    hub = StreamHub()
    return hub, Ingest(hub, PeerSettings(CERT, bind_ip="127.0.0.1", ice_timeout=ice_timeout))


def port_free(port: int) -> bool:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        sock.close()


async def test_publish_lists_the_stream_and_terminate_unpublishes_it() -> None:
    hub, ingest = make()
    ended: list[tuple[str, str]] = []
    publisher, answer = await ingest.publish(
        "cam",
        PUBLISH_OFFER,
        app_key="app",
        session_id="/s",
        media_session_id="m1",
        on_end=lambda s, i: ended.append((s, i)),
    )
    assert "a=recvonly" in answer
    stream = hub.get("cam")
    assert stream is not None and stream.media_session_id == "m1"
    entry = stream_json(stream)
    assert (entry["mediaProvider"], entry["sessionId"], entry["appKey"]) == ("WebRTC", "/s", "app")
    assert (entry["videoCodec"], entry["audioCodec"]) == ("H264", "opus")
    assert publisher.peer is not None
    port = publisher.peer.port
    assert not port_free(port)
    # The name is taken; so is the mediaSessionId.
    with pytest.raises(PublishError) as taken:
        await ingest.publish("cam", PUBLISH_OFFER)
    assert (taken.value.http_status, taken.value.info) == (409, STREAM_NAME_TAKEN)
    with pytest.raises(PublishError) as msid:
        await ingest.publish("other", PUBLISH_OFFER, media_session_id="m1")
    assert msid.value.http_status == 409
    # /stream/terminate stops the publisher: unpublished, port freed, owner told once.
    hub.terminate(stream)
    await asyncio.gather(*ingest.background)
    assert hub.get("cam") is None and stream.status is StreamStatus.UNPUBLISHED
    assert ended == [("UNPUBLISHED", "Unpublished by rest /terminate")]
    assert ingest.publishers == {} and port_free(port)
    await publisher.stop()  # idempotent
    assert len(ended) == 1


async def test_unusable_offer_reserves_nothing() -> None:
    hub, ingest = make()
    with pytest.raises(PublishError) as exc:
        await ingest.publish("cam", CHROME_OFFER)  # recvonly: nothing to receive
    assert exc.value.http_status == 400
    assert hub.get("cam") is None and ingest.publishers == {}


async def test_publisher_that_never_checks_fails_by_ice_timeout() -> None:
    hub, ingest = make(ice_timeout=0.2)
    ended: list[tuple[str, str]] = []
    publisher, _ = await ingest.publish(
        "cam", PUBLISH_OFFER, on_end=lambda s, i: ended.append((s, i))
    )
    stream = hub.get("cam")
    assert stream is not None and publisher.peer is not None
    port = publisher.peer.port
    await publisher._closed.wait()
    assert ended == [("FAILED", "Failed by ICE timeout")]
    assert stream.status is StreamStatus.FAILED and hub.get("cam") is None
    assert port_free(port)
    await ingest.close()


def whip(ingest: Ingest, auth: str = "") -> Dispatcher:
    router = Router()
    add_whip_routes(router, ingest)
    return Dispatcher(router, Authenticator(auth), "*")


def req(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> Request:
    return Request(method, path, {}, Headers(headers or {}), body)


async def test_whip_post_conflict_delete_and_auth() -> None:
    hub, ingest = make()
    d = whip(ingest, auth="token:s3cret")
    offer = PUBLISH_OFFER.encode()
    bearer = {**SDP, "authorization": "Bearer s3cret"}
    assert (await d.handle(req("POST", "/whip/cam", offer, SDP))).status == 401
    resp = await d.handle(req("POST", "/whip/cam", offer, bearer))
    assert resp.status == 201
    location = resp.headers.get("location") or ""
    assert re.fullmatch(r"/whip/cam/[0-9a-f-]{36}", location)
    assert (resp.headers.get("etag") or "").startswith('"')
    assert "ETag" in (resp.headers.get("access-control-expose-headers") or "")
    assert b"a=recvonly" in resp.body and b"s3cret" not in resp.body
    conflict = await d.handle(req("POST", "/whip/cam", offer, bearer))
    assert conflict.status == 409 and STREAM_NAME_TAKEN.encode() in conflict.body
    assert (
        await d.handle(req("POST", "/whip/x", offer, {"authorization": "Bearer s3cret"}))
    ).status == 415
    auth = {"authorization": "Bearer s3cret"}
    assert (
        await d.handle(req("DELETE", "/whip/other/" + location.rsplit("/", 1)[1], b"", auth))
    ).status == 404
    assert (await d.handle(req("DELETE", location, b"", auth))).status == 200
    assert hub.get("cam") is None and ingest.publishers == {}
    assert (await d.handle(req("DELETE", location, b"", auth))).status == 404
    await ingest.close()


FRAG = {"content-type": "application/trickle-ice-sdpfrag"}


async def test_whip_patch_trickles_candidates_and_refuses_restarts() -> None:
    """RFC 9725 4.3: candidates reach the session's ICE agent (204 + ETag); a stale ETag
    is 412, an ICE restart 422 (not supported), another body type 415; auth applies."""
    hub, ingest = make()
    d = whip(ingest, auth="token:s3cret")
    auth = {"authorization": "Bearer s3cret"}
    resp = await d.handle(req("POST", "/whip/cam", PUBLISH_OFFER.encode(), {**SDP, **auth}))
    assert resp.status == 201
    location, etag = resp.headers["location"], resp.headers["etag"]
    ufrag = re.search(r"a=ice-ufrag:(\S+)", PUBLISH_OFFER)
    pwd = re.search(r"a=ice-pwd:(\S+)", PUBLISH_OFFER)
    assert ufrag and pwd
    cand = "a=candidate:1 1 udp 2113937151 127.0.0.1 40404 typ host"
    frag = (
        f"a=ice-ufrag:{ufrag[1]}\r\na=ice-pwd:{pwd[1]}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
        f"a=mid:0\r\n{cand}\r\na=end-of-candidates\r\n"
    ).encode()
    assert (await d.handle(req("PATCH", location, frag, FRAG))).status == 401
    assert (await d.handle(req("PATCH", location, frag, {**SDP, **auth}))).status == 415
    stale = {**FRAG, **auth, "if-match": '"other"'}
    assert (await d.handle(req("PATCH", location, frag, stale))).status == 412
    bad = await d.handle(req("PATCH", location, b"a=candidate:1 1\r\n", {**FRAG, **auth}))
    assert bad.status == 400
    restart = frag.replace(ufrag[1].encode(), b"newufrag")
    assert (await d.handle(req("PATCH", location, restart, {**FRAG, **auth}))).status == 422
    star = {**FRAG, **auth, "if-match": "*"}
    assert (await d.handle(req("PATCH", location, frag, star))).status == 422
    publisher = ingest.get(location.rsplit("/", 1)[1])
    assert publisher is not None and publisher.peer is not None
    assert ("127.0.0.1", 40404) not in publisher.peer.ice.remote_candidates
    ok = await d.handle(req("PATCH", location, frag, {**FRAG, **auth, "if-match": etag}))
    assert (ok.status, ok.body, ok.headers["etag"]) == (204, b"", etag)
    assert ("127.0.0.1", 40404) in publisher.peer.ice.remote_candidates
    gone = "/whip/cam/nosuch"
    assert (await d.handle(req("PATCH", gone, frag, {**FRAG, **auth}))).status == 404
    assert hub.get("cam") is not None  # refusals left the session alone
    await ingest.close()
