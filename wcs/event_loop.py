"""The event loop choice (setting ``event_loop``), applied by the server and by each media
worker process before ``asyncio.run``."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


def choose_event_loop(choice: str) -> None:
    """uvloop when asked, or when installed and the choice is "auto" (bench/RESULTS.md)."""
    if choice == "asyncio":
        return
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise SystemExit("wcs: event_loop = uvloop, but uvloop is not installed") from None
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    log.info("event loop: uvloop")
