"""Public API of the REST/WebSocket layer (the names other packages import).

Usage::

    async def terminate(req: Request) -> Response:
        p = req.params()                      # {} for an empty body; 400 on bad JSON
        call_id = p.req_str("callId")         # BadRequest("callId", ...) -> 400
        if not manager.has(call_id):
            raise HttpError(404, "call not found")
        return empty()                        # 200, Content-Length: 0

    router = Router()
    router.add(["GET", "POST"], "/rest-api/call/terminate", terminate)
    router.add("GET", "/health", health, auth=False)
    server = HttpServer(router, host="0.0.0.0", port=8081, auth=settings.rest_auth)
    await server.start()                      # ... await server.close()

Status decisions: unknown path 404, wrong method 405 (+Allow), OPTIONS on a known path
204 preflight (no auth), auth failure 401 (+WWW-Authenticate), BadRequest/HttpError their
status, any other exception 500 with a generic message (logged with its traceback). Before
a handler runs: malformed HTTP 400, head over ``max_header`` 431, body over ``max_body`` 413,
request not complete within ``request_timeout`` 408 -- all four close the connection. Idle
keep-alive connections are closed after ``idle_timeout``. Every answer carries
Access-Control-Allow-Origin. The access log (logger ``wcs.rest.access``, DEBUG) has method,
path without query, status and duration; never bodies or tokens.

WebSocket: ``WebSocketServer(handler, ...)`` upgrades on any path (plain HTTP gets 426);
``HttpServer(..., ws_handler=handler)`` does the same next to its routes. The handler gets a
:class:`WebSocketConnection` and the socket is closed (1000, or 1011 if it raised) when it
returns.
"""

from wcs.rest.auth import Authenticator
from wcs.rest.errors import BadRequest, HttpError
from wcs.rest.message import Headers, Request, Response, empty, error, json_response
from wcs.rest.params import Params
from wcs.rest.router import Handler, Router
from wcs.rest.server import HttpServer, WebSocketServer
from wcs.rest.ws import WebSocketConnection, WsHandler

__all__ = [
    "Authenticator",
    "BadRequest",
    "Handler",
    "Headers",
    "HttpError",
    "HttpServer",
    "Params",
    "Request",
    "Response",
    "Router",
    "WebSocketConnection",
    "WebSocketServer",
    "WsHandler",
    "empty",
    "error",
    "json_response",
]
