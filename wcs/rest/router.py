"""Method + path routing: exact paths and ``{name}`` segments (``/whep/{stream}``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

from wcs.rest.message import Request, Response

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    handler: Handler
    auth: bool


@dataclass
class _PathEntry:
    pattern: tuple[str, ...]  # segments; "{name}" is a one-segment parameter
    routes: dict[str, Route] = field(default_factory=dict)

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.pattern):
            return None
        params: dict[str, str] = {}
        for pat, seg in zip(self.pattern, segments, strict=True):
            if _is_param(pat):
                if not seg:
                    return None
                params[pat[1:-1]] = unquote(seg)
            elif pat != seg:
                return None
        return params


@dataclass(frozen=True)
class Match:
    """A path that exists; ``route`` is None when the method is not allowed on it."""

    route: Route | None
    allowed: tuple[str, ...]
    path_params: dict[str, str]
    auth: bool  # whether any method of this path needs auth (for 405 / preflight)


def _is_param(segment: str) -> bool:
    return len(segment) > 2 and segment.startswith("{") and segment.endswith("}")


class Router:
    def __init__(self) -> None:
        self._exact: dict[str, _PathEntry] = {}
        self._patterns: list[_PathEntry] = []

    def add(
        self, methods: str | Iterable[str], path: str, handler: Handler, *, auth: bool = True
    ) -> None:
        """Register ``handler`` for ``methods`` on ``path``; ``auth=False`` opts out of auth."""
        if not path.startswith("/"):
            raise ValueError(f"route path must start with '/': {path!r}")
        names = [methods] if isinstance(methods, str) else list(methods)
        segments = tuple(path.split("/"))
        is_pattern = any(_is_param(s) for s in segments)
        entry = self._entry(path, segments, is_pattern)
        for method in names:
            method = method.upper()
            if method in entry.routes:
                raise ValueError(f"route {method} {path} registered twice")
            entry.routes[method] = Route(method, handler, auth)

    def _entry(self, path: str, segments: tuple[str, ...], is_pattern: bool) -> _PathEntry:
        if not is_pattern:
            return self._exact.setdefault(path, _PathEntry(segments))
        for entry in self._patterns:
            if entry.pattern == segments:
                return entry
        entry = _PathEntry(segments)
        self._patterns.append(entry)
        return entry

    def wrap(self, path: str, make: Callable[[], Handler]) -> Handler:
        """Replace the handler of every method of exact ``path`` with ``make()``; returns
        the one it replaces (all methods of a wrapped path share one handler)."""
        entry = self._exact[path]
        originals = {r.handler for r in entry.routes.values()}
        if len(originals) != 1:
            raise ValueError(f"route {path}: methods with different handlers cannot be wrapped")
        new = make()
        entry.routes = {m: Route(m, new, r.auth) for m, r in entry.routes.items()}
        return originals.pop()

    def methods_by_path(self) -> dict[str, tuple[str, ...]]:
        """Every registered path (patterns as written, ``/whep/{stream}``) and its methods."""
        entries = [*self._exact.values(), *self._patterns]
        return {"/".join(e.pattern): tuple(sorted(e.routes)) for e in entries}

    def match(self, method: str, path: str) -> Match | None:
        """None for an unknown path (404)."""
        params: dict[str, str] | None = {}
        entry = self._exact.get(path)
        if entry is None:
            segments = path.split("/")
            for candidate in self._patterns:
                params = candidate.match(segments)
                if params is not None:
                    entry = candidate
                    break
        if entry is None or params is None:
            return None
        routes = entry.routes
        if "GET" in routes and "HEAD" not in routes:
            # RFC 9110 §9.3.2: HEAD is GET without the body (the connection drops the body).
            routes = {**routes, "HEAD": routes["GET"]}
        allowed = tuple(sorted(routes))
        needs_auth = any(r.auth for r in routes.values())
        return Match(routes.get(method), allowed, params, needs_auth)
