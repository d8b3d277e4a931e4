"""Request and Response values passed between the connection loop and handlers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from wcs.rest.errors import BadRequest
from wcs.rest.params import Params

HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]] | None


class Headers:
    """Case-insensitive, multi-valued header list (names stored lower-case)."""

    __slots__ = ("_items",)

    def __init__(self, items: HeaderInput = None) -> None:
        pairs: Iterable[tuple[str, str]]
        if items is None:
            pairs = ()
        elif isinstance(items, Mapping):
            pairs = items.items()
        else:
            pairs = items
        self._items: list[tuple[str, str]] = [(k.lower(), v) for k, v in pairs]

    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for k, v in self._items:
            if k == name:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self._items if k == name]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, name: str, value: str) -> None:
        self._items.append((name.lower(), value))

    def set(self, name: str, value: str) -> None:
        """Replace every value of ``name`` with one value."""
        name = name.lower()
        self._items = [(k, v) for k, v in self._items if k != name]
        self._items.append((name, value))

    def __repr__(self) -> str:
        # Values may hold credentials (Authorization, X-Auth-Token): show names only.
        return f"Headers({[k for k, _ in self._items]!r})"


@dataclass(eq=False)
class Request:
    """One HTTP request with its whole body already read (bounded by ``max_body``)."""

    method: str
    path: str  # without the query string, still percent-encoded
    query: dict[str, str] = field(default_factory=dict)
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    client: tuple[str, int] | None = None
    path_params: dict[str, str] = field(default_factory=dict)
    _parsed: Any = field(default=None, init=False)

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; an empty body is ``{}`` (GET find_all sends none)."""
        if self._parsed is None:
            self._parsed = parse_json_object(self.body)
        parsed: dict[str, Any] = self._parsed
        return parsed

    def params(self) -> Params:
        """Lenient typed access to the JSON body fields."""
        return Params(self.json())

    def __repr__(self) -> str:
        # Bodies carry SIP passwords and queries may carry the token: keep them out.
        return f"Request({self.method} {self.path} from {self.client})"


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        obj = json.loads(body)
    except UnicodeDecodeError:
        raise BadRequest(None, "request body is not UTF-8") from None
    except (ValueError, RecursionError) as exc:
        raise BadRequest(None, f"invalid JSON: {_short(exc)}") from None
    if not isinstance(obj, dict):
        raise BadRequest(None, "JSON body must be an object")
    return obj


def _short(exc: Exception) -> str:
    # json's messages hold a position, never the input itself, so they are safe to echo.
    text = str(exc) or type(exc).__name__
    return text[:120]


@dataclass(eq=False)
class Response:
    """An HTTP response; the server adds Content-Length, CORS and Connection headers."""

    status: int
    body: bytes = b""
    headers: Headers = field(default_factory=Headers)

    def __init__(self, status: int, body: bytes = b"", headers: HeaderInput | Headers = None):
        self.status = status
        self.body = body
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)

    def __repr__(self) -> str:
        return f"Response({self.status}, {len(self.body)} bytes)"


def json_response(obj: Any, status: int = 200) -> Response:
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(status, body, {"content-type": "application/json; charset=utf-8"})


def empty(status: int = 200) -> Response:
    """WCS "void" success: 200 with Content-Length 0."""
    return Response(status)


def error(status: int, message: str, field: str | None = None) -> Response:
    return json_response({"error": message, "field": field}, status)
