"""Public API of the REST/WebSocket layer (the names other packages import)."""

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
