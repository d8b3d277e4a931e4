"""A stream hub for tests that play the publisher themselves."""

from __future__ import annotations

from typing import Any

from wcs.app.streams import Publication, StreamHub


class Hub(StreamHub):
    """A hub that keeps the publications it made, by stream name."""

    def __init__(self) -> None:
        super().__init__()
        self.pubs: dict[str, Publication] = {}

    def publish(self, name: str, **kw: Any) -> Publication:
        self.pubs[name] = super().publish(name, **kw)
        return self.pubs[name]
