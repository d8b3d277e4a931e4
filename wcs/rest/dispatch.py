"""From a parsed Request to a Response: routing, CORS preflight, auth, error mapping.

No sockets here, so every status decision is testable by calling ``handle`` directly.
"""

from __future__ import annotations

import logging

from wcs.rest.auth import TOKEN_QUERY, Authenticator
from wcs.rest.errors import HttpError
from wcs.rest.message import Request, Response, empty, error
from wcs.rest.router import Router

log = logging.getLogger(__name__)

# WCS defaults (rest_access_control_allow_*), plus the headers our auth modes read.
CORS_ALLOW_METHODS = "POST, GET, OPTIONS, DELETE, PATCH"
CORS_ALLOW_HEADERS = "content-type, x-requested-with, authorization, x-auth-token"
CORS_MAX_AGE = "86400"


class Dispatcher:
    def __init__(self, router: Router, auth: Authenticator, cors_origin: str = "*") -> None:
        self.router = router
        self.auth = auth
        self.cors_origin = cors_origin

    async def handle(self, req: Request) -> Response:
        resp = await self._route(req)
        if self.cors_origin:
            resp.headers.set("access-control-allow-origin", self.cors_origin)
        return resp

    async def _route(self, req: Request) -> Response:
        match = self.router.match(req.method, req.path)
        if match is None:
            return error(404, "not found")
        req.path_params = match.path_params
        route = match.route
        if route is None and req.method == "OPTIONS":
            # Preflight: browsers send it without credentials, so no auth here.
            return self._preflight(match.allowed)
        if route is None:
            resp = error(405, f"method {req.method} not allowed")
            resp.headers.set("allow", ", ".join((*match.allowed, "OPTIONS")))
            return resp
        if route.auth and self.auth.enabled:
            if not self.auth.check(req.headers, req.query):
                resp = error(401, "authentication required")
                resp.headers.set("www-authenticate", self.auth.challenge)
                return resp
            if self.auth.uses_query_token:
                # The handler has no use for the token; keep it away from anything it echoes.
                req.query.pop(TOKEN_QUERY, None)
        try:
            return await route.handler(req)
        except HttpError as exc:
            return error(exc.status, exc.message, exc.field)
        except Exception:
            # A real bug: log it with the traceback, tell the client nothing about it.
            log.exception("handler for %s %s failed", req.method, req.path)
            return error(500, "internal server error")

    def _preflight(self, allowed: tuple[str, ...]) -> Response:
        resp = empty(204)
        resp.headers.set("allow", ", ".join((*allowed, "OPTIONS")))
        resp.headers.set("access-control-allow-methods", CORS_ALLOW_METHODS)
        resp.headers.set("access-control-allow-headers", CORS_ALLOW_HEADERS)
        resp.headers.set("access-control-max-age", CORS_MAX_AGE)
        return resp
