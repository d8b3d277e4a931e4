"""The one error a manager raises to refuse a REST request (call startup, push, …)."""

from __future__ import annotations


class RequestError(Exception):
    """A REST-level refusal: ``status`` is the HTTP code, ``field`` the offending field."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
