"""The ``/stream/find_all``-shaped entry of a play refused before it had a viewer."""

from __future__ import annotations

import time
from typing import Any


def refused_entry(
    name: str,
    media_session_id: str,
    info: str,
    *,
    provider: str,
    app_key: str,
    session_id: str | None,
) -> dict[str, Any]:
    """A FAILED play that never had a viewer, shaped like :meth:`Viewer.to_json`."""
    return {
        "name": name,
        "mediaSessionId": media_session_id,
        "appKey": app_key,
        "sessionId": session_id,
        "nodeId": None,
        "published": False,
        "mediaType": "play",
        "mediaProvider": provider,
        "status": "FAILED",
        "info": info,
        "hasAudio": False,
        "hasVideo": False,
        "width": 0,
        "height": 0,
        "record": False,
        "createDate": int(time.time() * 1000),
        "custom": {},
        "webrtc": {},
    }
