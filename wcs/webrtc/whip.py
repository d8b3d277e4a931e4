"""WHIP (RFC 9725) on the HTTP port: publishing a stream from any WHIP client.

``POST /whip/{streamName}`` with an ``application/sdp`` offer answers 201 with the SDP
answer (our candidates included: no trickle needed), ``Location:
/whip/{streamName}/{id}`` and an ``ETag`` naming the ICE session; ``DELETE`` on that
location stops publishing. A name already published is 409, an unusable offer 400, a body
that is not SDP 415. ``PATCH`` (trickle ICE / ICE restart) is not offered: the router
answers 405. ``rest_auth`` applies as for every route (WHIP's Bearer token is one of its
forms); CORS preflight comes from the dispatcher, and the answer exposes ``Location`` and
``ETag`` to scripts. The stream's appKey is ``defaultApp`` (WHIP has no session); its
mediaProvider is "WebRTC", as for the WCS protocol's publishers (the media is the same).
"""

from __future__ import annotations

from urllib.parse import quote

from wcs.rest.errors import HttpError
from wcs.rest.message import Request, Response, empty
from wcs.rest.router import Router

from .publisher import Ingest, PublishError
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
        etag = f'"{publisher.peer.ice.local_ufrag if publisher.peer else msid}"'
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

    async def delete(req: Request) -> Response:
        publisher = ingest.get(req.path_params["id"])
        if publisher is None or publisher.name != req.path_params["stream"]:
            raise HttpError(404, "no such WHIP session")
        await publisher.stop()
        return empty(200)

    router.add("POST", PREFIX + "/{stream}", post)
    router.add("DELETE", PREFIX + "/{stream}/{id}", delete)
