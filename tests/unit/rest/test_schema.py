"""The body declarations: valid schemas, and the leniency the schema and parser share."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest

from wcs.rest.errors import BadRequest
from wcs.rest.openapi import full_document
from wcs.rest.schema import Body, Field
from wcs.rest.schema_bodies import BODIES, CALL_STARTUP, PUSH_STARTUP, STREAM_FILTER

SCHEMAS = full_document()["components"]["schemas"]


def schema_of(body: Body) -> dict[str, Any]:
    resolver = {"components": {"schemas": SCHEMAS}, **body.json_schema()}
    return resolver


@pytest.mark.parametrize("body", BODIES, ids=lambda b: b.name)
def test_every_body_schema_is_a_valid_json_schema(body: Body) -> None:
    schema = body.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert SCHEMAS[body.name] == schema  # the document serves exactly the declaration
    for name, field in ((f.name, f) for f in body.fields):
        if field.kind == "string" and not field.enum:
            assert field.regex.startswith("^") and field.regex.endswith("$"), name
            re.compile(field.regex)


def valid(body: Body, value: dict[str, Any]) -> bool:
    try:
        jsonschema.validate(value, schema_of(body))
    except jsonschema.ValidationError:
        return False
    return True


CALL = {"callId": "c1", "callee": "1002", "sipLogin": "alice", "sipDomain": "pbx.example"}


@pytest.mark.parametrize(
    "extra",
    [
        {"sipPort": "5060"},
        {"sipPort": 5060},
        {"hasAudio": "TRUE"},
        {"hasVideo": 0},
        {"sipRegisterRequired": "no"},
        {"sipTransport": "tcp"},
        {"toStream": "room 1"},
        {"custom": {"a": [1, "b"]}},
    ],
)
def test_lenient_values_are_valid_for_both(extra: dict[str, Any]) -> None:
    body = {**CALL, **extra}
    assert valid(CALL_STARTUP, body)
    CALL_STARTUP.parse(body)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"callId": ""}, "callId"),
        ({"callId": "a b"}, "callId"),
        ({"toStream": ""}, "toStream"),
        ({"toStream": "a/b"}, "toStream"),
        ({"sipLogin": "a@b"}, "sipLogin"),
        ({"sipTransport": "sctp"}, "sipTransport"),
        ({"sipPort": 0}, "sipPort"),
        ({"visibleName": 'say "hi"'}, "visibleName"),
        ({"rtmpUrl": "rtmp://"}, "rtmpUrl"),
        ({"rtmpUrl": "http://h/a"}, "rtmpUrl"),
        ({"appKey": "a\nb"}, "appKey"),
        ({"appKey": "x" * 129}, "appKey"),
    ],
)
def test_values_refused_by_both(extra: dict[str, Any], field: str) -> None:
    body = {**CALL, **extra}
    assert not valid(CALL_STARTUP, body)
    with pytest.raises(BadRequest) as exc:
        CALL_STARTUP.parse(body)
    assert exc.value.field == field


def test_a_trailing_newline_is_refused_although_python_dollar_would_match() -> None:
    with pytest.raises(BadRequest):
        PUSH_STARTUP.parse({"streamName": "cam\n", "rtmpUrl": "rtmp://h/a"})


def test_absent_and_empty_optional_flags_are_none_so_handlers_keep_their_defaults() -> None:
    assert STREAM_FILTER.parse({})["published"] is None
    assert STREAM_FILTER.parse({"published": ""})["published"] is None
    assert STREAM_FILTER.parse({"published": "off"})["published"] is False


def test_nested_fields_are_named_with_their_object() -> None:
    body = Body("T", (Field("config", "object", fields=(Field("rotation", max_len=2),)),))
    with pytest.raises(BadRequest) as exc:
        body.parse({"config": {"rotation": "long"}})
    assert exc.value.field == "config.rotation"
    assert body.all_refusals() == {}


def test_ranged_integers_document_their_string_form_refusal() -> None:
    assert "sipPort" in CALL_STARTUP.all_refusals()
