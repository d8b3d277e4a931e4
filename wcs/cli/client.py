"""A tiny REST client for the command line (urllib: no dependencies)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

DEFAULT_SERVER = "http://127.0.0.1:8081"


class ServerUnreachable(Exception):
    """No HTTP answer at all (refused, timeout, DNS)."""


class RestClient:
    def __init__(self, base: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout

    def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """POST a JSON body to ``/rest-api/<path>``; (status, parsed JSON or None)."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(
            f"{self.base}/rest-api/{path}",
            data=json.dumps(body or {}).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise ServerUnreachable(f"{self.base}: {getattr(exc, 'reason', exc)}") from None
        if not raw:
            return status, None
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")


def add_server_options(parser: Any) -> None:
    parser.add_argument(
        "--server",
        default=os.environ.get("WCS_SERVER", DEFAULT_SERVER),
        help=f"base URL of the wcs server (default $WCS_SERVER or {DEFAULT_SERVER})",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("WCS_TOKEN"),
        help="REST token when rest_auth is token:... (default $WCS_TOKEN)",
    )


def error_text(body: Any) -> str:
    if isinstance(body, dict) and "error" in body:
        field = f" ({body['field']})" if body.get("field") else ""
        return f"{body['error']}{field}"
    return str(body)
