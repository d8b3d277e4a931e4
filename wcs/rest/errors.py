"""Exceptions a handler raises to answer with a 4xx JSON error instead of a 500."""

from __future__ import annotations


class HttpError(Exception):
    """An expected failure with its HTTP status, e.g. 404 "nothing found" or 409 duplicate."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class BadRequest(HttpError):
    """Bad input: becomes 400 ``{"error": message, "field": field}``."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(400, message, field)
