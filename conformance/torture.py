"""The torture messages in conformance/torture/ and their manifest."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

TORTURE = Path(__file__).resolve().parent / "torture"


@dataclass(frozen=True, slots=True)
class TortureCase:
    name: str
    about: str
    ua: str | None  # "400", "silent", "not-400"; None for responses
    data: bytes

    @property
    def valid(self) -> bool:
        return self.name.startswith("valid-")


def load_cases() -> list[TortureCase]:
    manifest = tomllib.loads((TORTURE / "manifest.toml").read_text("utf-8"))
    return [
        TortureCase(name, entry["about"], entry.get("ua"), (TORTURE / name).read_bytes())
        for name, entry in sorted(manifest.items())
    ]


def files_on_disk() -> list[str]:
    return sorted(p.name for p in TORTURE.glob("*.sip"))
