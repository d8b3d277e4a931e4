"""The OpenAPI document marks our extensions among the call actions (issue 19)."""

from __future__ import annotations

from wcs.rest.openapi import full_document


def test_call_actions_are_documented_and_extensions_marked() -> None:
    paths = full_document()["paths"]
    marked = {
        path.removeprefix("/rest-api/call/")
        for path, item in paths.items()
        if path.startswith("/rest-api/call/") and item["post"].get("x-extension")
    }
    assert marked == {"inject_sound/terminate", "hold", "unhold", "transfer"}
    dtmf = paths["/rest-api/call/send_dtmf"]["post"]
    assert set(dtmf["responses"]) >= {"200", "400", "404", "409"}
    assert set(dtmf["x-refusals"]) == {"type", "dtmf"}
    sound = paths["/rest-api/call/inject_sound"]["post"]
    assert set(sound["x-refusals"]) == {"fileName"}
