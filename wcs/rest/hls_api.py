"""The HLS HTTP edge: ``/{stream}/{stream}.m3u8`` and the stream's init, segment and part
files (names in :mod:`wcs.hls.names`), on its own listener (``hls_port``, WCS's 8082).

Every request names exactly one stream and one of that stream's files; anything else (more
path elements, ``..``, percent-encoded tricks, a name of another stream) is 404, so nothing
outside a stream's own output is ever served. The first request for a stream starts its
output (:class:`wcs.app.hls_output.HlsOutputs`).

Blocking playlist reload (``_HLS_msn``/``_HLS_part``) and requests for the part being filled
are held on the output's change notifications, at most ``hold_limit`` (3 x TARGETDURATION)
seconds, then 503; too far ahead is 400 (:func:`wcs.hls.decide`). A plain playlist request
for a stream that has no complete segment yet is held the same way (a playlist without a
segment makes players give up). Cache headers make a CDN work: segments, parts and init
segments never change (immutable, a year's max-age); a live playlist changes with every
part (max-age 1 s), an ended one is final (60 s). Every answer has an ETag and CORS (from
the REST dispatcher); If-None-Match gets 304.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter

from wcs.app.hls_output import HlsOutput, HlsOutputs
from wcs.hls import (
    BadRequest,
    NotFound,
    Ready,
    Resource,
    Wait,
    decide,
    parse_name,
    parse_query,
    render,
    resource_decision,
)
from wcs.rest.message import Request, Response, error
from wcs.rest.router import Router

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
IMMUTABLE = "public, max-age=31536000, immutable"


class HlsApi:
    def __init__(self, outputs: HlsOutputs) -> None:
        self.outputs = outputs
        # Requests by kind (playlist, blocking_playlist, init, segment, part, other): what a
        # cache in front of us lets through, so its effect shows in /metrics.
        self.requests: Counter[str] = Counter()
        self.held_timeouts = 0

    def add_routes(self, router: Router) -> None:
        router.add(["GET", "HEAD"], "/{stream}/{file}", self.serve, auth=False)

    @property
    def hold_limit(self) -> float:
        return self.outputs.settings.hls.hold_limit

    async def serve(self, req: Request) -> Response:
        name = req.path_params["stream"]
        resource = parse_name(req.path_params["file"], name)
        self.requests[_kind(resource, req)] += 1
        if resource is None:
            return error(404, "not found")
        output = await self.outputs.open(name, self.hold_limit)
        if output is None:
            return error(404, "stream not found")
        if resource.kind == "playlist":
            return await self._playlist(req, output)
        return await self._file(req, output, resource)

    async def _hold(self, output: HlsOutput, deadline: float) -> bool:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0 or not await output.changed(remaining):
            self.held_timeouts += 1
            return False
        return True

    async def _playlist(self, req: Request, output: HlsOutput) -> Response:
        request = parse_query(req.query)
        if isinstance(request, BadRequest):
            return error(400, request.reason)
        seg = output.segmenter
        deadline = asyncio.get_running_loop().time() + self.hold_limit
        while True:
            if not seg.ended and not any(s.complete for s in seg.segments):
                decision: object = Wait(0, None)
            else:
                decision = decide(seg, request)
            if isinstance(decision, BadRequest):
                return error(400, decision.reason)
            if isinstance(decision, Ready):
                break
            if not await self._hold(output, deadline):
                return error(503, "playlist not ready in time")
        body = render(seg, output.epoch).encode()
        # An ended playlist is final; a live one changes with every part.
        cache = "max-age=60" if seg.ended else f"max-age={_max_age(seg.settings.part_target)}"
        return _answer(req, body, PLAYLIST_TYPE, cache, _etag(body))

    async def _file(self, req: Request, output: HlsOutput, res: Resource) -> Response:
        seg = output.segmenter
        deadline = asyncio.get_running_loop().time() + self.hold_limit
        while True:
            decision = resource_decision(seg, res.kind, res.number, res.index)
            if isinstance(decision, NotFound):
                return error(404, "not found")
            if isinstance(decision, BadRequest):
                return error(400, decision.reason)
            if isinstance(decision, Ready):
                break
            if not await self._hold(output, deadline):
                return error(503, "not ready in time")
        if res.kind == "init":
            body, ctype = seg.inits[res.number], "video/mp4"
        elif res.kind == "segment":
            body, ctype = seg.segment_data(res.number) or b"", "video/iso.segment"
        else:
            body, ctype = seg.part_data(res.number, res.index) or b"", "video/iso.segment"
        tag = f'"{output.stream.media_session_id[:8]}-{req.path_params["file"]}"'
        return _answer(req, body, ctype, IMMUTABLE, tag)


def _kind(resource: Resource | None, req: Request) -> str:
    if resource is None:
        return "other"
    if resource.kind == "playlist" and "_HLS_msn" in req.query:
        return "blocking_playlist"
    return resource.kind


def _max_age(part_target: float) -> int:
    return max(1, int(part_target))


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _answer(req: Request, body: bytes, ctype: str, cache: str, etag: str) -> Response:
    headers = {"content-type": ctype, "cache-control": cache, "etag": etag}
    match = req.headers.get("if-none-match")
    if match is not None and etag in (m.strip() for m in match.split(",")):
        return Response(304, b"", headers)
    return Response(200, body, headers)


__all__ = ["HlsApi"]
