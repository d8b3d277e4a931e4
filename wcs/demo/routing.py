"""How a ``/call/startup`` body reaches the demo callee: callee ``demo`` and no SIP server.

A body naming ``sipDomain`` or ``sipOutboundProxy`` is left alone, so a real user called
"demo" on a real PBX is still reachable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DEMO_USER = "demo"
DEFAULT_LOGIN = "wcs"


def is_demo_body(body: dict[str, Any], user: str = DEMO_USER) -> bool:
    callee = body.get("callee")
    return (
        isinstance(callee, str)
        and callee.strip() == user
        and not body.get("sipDomain")
        and not body.get("sipOutboundProxy")
    )


def demo_defaults(host: str, port: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A body filter for :func:`wcs.rest.calls_api.add_call_routes`."""

    def fill(body: dict[str, Any]) -> dict[str, Any]:
        if not is_demo_body(body):
            return body
        out = dict(body)
        out["sipDomain"] = host
        out["sipPort"] = port
        out["sipTransport"] = "UDP"
        out["sipRegisterRequired"] = False  # the demo has no registrar
        if not out.get("sipLogin"):
            out["sipLogin"] = DEFAULT_LOGIN
        return out

    return fill
