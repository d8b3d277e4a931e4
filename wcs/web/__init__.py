"""The built-in player page at ``/`` of the HTTP port: our own HTML/JS (no WebSDK code).

It starts calls through ``/rest-api/call/startup``, lists calls (incoming ones too, with
Answer/Reject buttons while one rings with ``answer = ring``) and streams, plays a stream
with a plain ``RTCPeerConnection`` over WHEP and, beside it, over HLS / LL-HLS with our own
minimal Media Source Extensions player (``hls_player.js``: no hls.js, nothing from a CDN),
each with its measured latency; stops them and hangs calls up; it publishes the browser's
camera and microphone (or a test card and tone) over WHIP, trickling candidates. The page
itself needs no auth (it holds no data); its REST, WHEP and WHIP requests carry the token
typed in it.
"""

from __future__ import annotations

from pathlib import Path

from wcs.rest.message import Request, Response
from wcs.rest.router import Router

STATIC = Path(__file__).resolve().parent / "static"
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/player.js": ("player.js", "text/javascript; charset=utf-8"),
    "/hls_player.js": ("hls_player.js", "text/javascript; charset=utf-8"),
    "/publisher.js": ("publisher.js", "text/javascript; charset=utf-8"),
}


def add_web_routes(router: Router) -> None:
    for path, (name, ctype) in FILES.items():
        body = (STATIC / name).read_bytes()  # read once: the files are tiny

        async def serve(req: Request, body: bytes = body, ctype: str = ctype) -> Response:
            return Response(200, body, {"content-type": ctype, "cache-control": "no-cache"})

        router.add("GET", path, serve, auth=False)
