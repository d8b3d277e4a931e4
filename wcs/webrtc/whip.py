"""WHIP (RFC 9725) on the HTTP port: publishing a stream from any WHIP client.

``POST /whip/{streamName}`` with an ``application/sdp`` offer answers 201 with the SDP
answer (our candidates included: no trickle needed), ``Location: /whip/{streamName}/{id}``
and an ``ETag`` naming the ICE session; ``DELETE`` on that location stops publishing. A name
already published is 409, an unusable offer 400, a body that is not SDP 415. ``PATCH`` on
the location trickles ICE candidates (:mod:`wcs.webrtc.trickle`: 204, 412 on a stale ``If-
Match``, 422 for an ICE restart, which we do not support). ``rest_auth`` applies as for
every route (WHIP's Bearer token is one of its forms); CORS preflight comes from the
dispatcher, and the answer exposes ``Location`` and ``ETag`` to scripts. The stream's appKey
is ``defaultApp`` (WHIP has no session); its mediaProvider is "WebRTC", as for the WCS
protocol's publishers (the media is the same).
"""

from __future__ import annotations

from urllib.parse import quote

from wcs.rest.errors import HttpError
from wcs.rest.message import Request, Response, empty
from wcs.rest.router import Router

from .publisher import Ingest, Publisher, PublishError
from .trickle import etag_of, patch_session
from .whep import SDP_TYPE, read_offer

PREFIX = "/whip"


def add_whip_routes(router: Router, ingest: Ingest) -> None:
    async def post(req: Request) -> Response:
        name = req.path_params["stream"]
        offer = read_offer(req)
        try:
            publisher, answer = await ingest.publish(name, offer)
        except PublishError as exc:
            raise HttpError(exc.http_status, exc.info) from None
        msid = publisher.media_session_id
        etag = etag_of(answer)
        return Response(
            201,
            answer.encode(),
            {
                "content-type": SDP_TYPE,
                "location": f"{PREFIX}/{quote(name, safe='')}/{msid}",
                "etag": etag,
                "access-control-expose-headers": "Location, ETag",
            },
        )

    def session(req: Request) -> Publisher:
        publisher = ingest.get(req.path_params["id"])
        if publisher is None or publisher.name != req.path_params["stream"]:
            raise HttpError(404, "no such WHIP session")
        return publisher

    async def delete(req: Request) -> Response:
        await session(req).stop()
        return empty(200)

    async def patch(req: Request) -> Response:
        peer = session(req).peer
        if peer is None:
            raise HttpError(404, "no such WHIP session")
        return await patch_session(req, peer)

    router.add("POST", PREFIX + "/{stream}", post)
    router.add("DELETE", PREFIX + "/{stream}/{id}", delete)
    router.add("PATCH", PREFIX + "/{stream}/{id}", patch)
