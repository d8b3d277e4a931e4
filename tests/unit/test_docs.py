"""docs/ stays in step with the code: every setting and every REST path is documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from wcs.config import Settings
from wcs.rest.openapi import full_document

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_setting_is_in_settings_md_with_its_default() -> None:
    text = (DOCS / "settings.md").read_text()
    for f in dataclasses.fields(Settings):
        row = next((line for line in text.splitlines() if line.startswith(f"| `{f.name}` |")),
                   None)  # fmt: skip
        assert row is not None, f"setting {f.name} is not in docs/settings.md"
        default = f.default
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        if shown:
            assert f"`{shown}`" in row, (f.name, shown, row)


def test_every_rest_path_is_in_rest_md() -> None:
    text = (DOCS / "rest.md").read_text()
    for path in full_document()["paths"]:
        assert f"`{path}`" in text or path.removeprefix("/rest-api") in text, path
