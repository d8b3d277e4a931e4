"""WHEP (draft-ietf-wish-whep) on the HTTP port.

``POST /whep/{streamName}`` with an ``application/sdp`` offer answers 201 with the SDP
answer (our candidates included: no trickle needed), ``Location: /whep/{streamName}/{id}``
and an ``ETag``; ``DELETE`` on that location stops the viewer, ``PATCH`` trickles ICE
candidates as for WHIP (:mod:`wcs.webrtc.trickle`; no ICE restart). An unknown stream is
404, an unusable offer 400, a body that is not SDP 415. ``rest_auth`` applies (WHEP's Bearer
token is one of its forms); CORS preflight comes from the dispatcher, and the answer exposes
``Location`` and ``ETag`` to scripts. A WHEP viewer has no session and so no appKey of its
own: it takes the played stream's, so its StreamStatusEvent hooks reach the stream owner's
backend (an unknown stream has no owner: that 404 posts no hook). Viewers per source address
are bounded by ``quota`` (shared with the WebSocket plays): over it, 429.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from wcs.limits import Quota
from wcs.rest.errors import HttpError
from wcs.rest.message import Request, Response, empty
from wcs.rest.router import Router

from .trickle import etag_of, patch_session
from .viewer import Playback, PlaybackError, Viewer

PREFIX = "/whep"
SDP_TYPE = "application/sdp"
MAX_OFFER = 65536


def read_offer(req: Request) -> str:
    """The SDP offer of a WHEP/WHIP POST; HttpError 415/413/400 when it is not one."""
    ctype = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != SDP_TYPE:
        raise HttpError(415, "the offer must be application/sdp")
    if len(req.body) > MAX_OFFER:
        raise HttpError(413, "offer too large")
    try:
        offer = req.body.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "the offer is not UTF-8") from None
    if not offer.strip():
        raise HttpError(400, "empty offer")
    return offer


def add_whep_routes(router: Router, playback: Playback, quota: Quota | None = None) -> None:
    places = quota or Quota("viewers", 0, 0)

    async def post(req: Request) -> Response:
        name = req.path_params["stream"]
        offer = read_offer(req)
        msid = str(uuid.uuid4())
        ip = req.client[0] if req.client else "?"
        if not places.admit(ip):
            raise HttpError(429, f"too many viewers from this address (limit {places.per_key})")
        try:
            # No session, so no appKey of its own: the stream's (hooks go to its backend).
            _, answer = await playback.play(
                name,
                offer,
                msid,
                provider="WHEP",
                app_key=None,
                on_end=lambda _status, _info: places.release(ip),
            )
        except PlaybackError as exc:
            places.release(ip)
            raise HttpError(exc.http_status, exc.info) from None
        location = f"{PREFIX}/{quote(name, safe='')}/{msid}"
        return Response(
            201,
            answer.encode(),
            {
                "content-type": SDP_TYPE,
                "location": location,
                "etag": etag_of(answer),
                "access-control-expose-headers": "Location, ETag",
            },
        )

    def session(req: Request) -> Viewer:
        viewer = playback.get(req.path_params["id"])
        if viewer is None or viewer.stream.name != req.path_params["stream"]:
            raise HttpError(404, "no such WHEP session")
        return viewer

    async def delete(req: Request) -> Response:
        await session(req).close()
        return empty(200)

    async def patch(req: Request) -> Response:
        return await patch_session(req, session(req).peer)

    router.add("POST", PREFIX + "/{stream}", post)
    router.add("DELETE", PREFIX + "/{stream}/{id}", delete)
    router.add("PATCH", PREFIX + "/{stream}/{id}", patch)
