"""One declaration per REST request body: it validates the body AND becomes its OpenAPI schema.

A :class:`Body` is a tuple of :class:`Field` s (type, required, length, character set,
enum, range). :meth:`Body.parse` checks a JSON object against it with the WCS leniency of
:class:`~wcs.rest.params.Params` (booleans and numbers also as strings) and returns the typed
values; :meth:`Body.json_schema` is the JSON Schema the OpenAPI document serves. Both read
the same declaration, so the document cannot drift from what the handlers refuse.

A schema-valid body may still be refused (400) only for a reason listed in
:attr:`Body.refusals` (a field and why: "must form a SIP URI with sipDomain"); the document
carries that list (``x-refusals``) and the property test holds the handlers to it.

Text never carries control characters or lone surrogates (``\\ud800``): they would reach
SIP headers, file names and JSON rendering. Free-form objects (``custom``) are checked for
lone surrogates in every key and string value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from wcs.rest.errors import BadRequest
from wcs.rest.params import Params

# One character of text: no C0 control, no DEL. Lone surrogates are refused everywhere apart
# from the patterns: they are not Unicode text (I-JSON, RFC 7493 §2.1), so no pattern needs
# to name them (and generators from the schema could not produce them anyway).
TEXT = r"[^\u0000-\u001f\u007f]"
NUMBER_STRING = r"^\s*[+-]?[0-9]{1,18}\s*$"
BOOL_WORDS = ("true", "false", "1", "0", "yes", "no", "on", "off")
_BOOL_ENUM = [*BOOL_WORDS, "True", "False", "TRUE", "FALSE"]
_SURROGATE = re.compile("[\ud800-\udfff]")

Kind = Literal["string", "boolean", "integer", "object", "array"]


@dataclass(frozen=True)
class Field:
    """One body field. Strings match ``pattern`` (anchored ``^...$``), by default ``chars``
    repeated; ``min_len`` 1 refuses the empty string."""

    name: str
    kind: Kind = "string"
    required: bool = False
    max_len: int = 256
    min_len: int = 0
    chars: str = TEXT
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    fields: tuple[Field, ...] = ()  # an object's known fields; others pass unchecked
    description: str = ""
    write_only: bool = False

    @property
    def regex(self) -> str:
        if self.pattern is not None:
            return self.pattern
        return f"^{self.chars}*$"

    def string_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "maxLength": self.max_len}
        if self.min_len:
            out["minLength"] = self.min_len
        if self.enum:
            out = {"type": "string", "enum": list(self.enum)}
        else:
            out["pattern"] = self.regex
        return out

    def json_schema(self) -> dict[str, Any]:
        if self.kind == "string":
            out = self.string_schema()
        elif self.kind == "boolean":
            out = {"$ref": "#/components/schemas/LenientBoolean"}
        elif self.kind == "integer":
            number: dict[str, Any] = {"type": "integer"}
            if self.minimum is not None:
                number["minimum"] = self.minimum
            if self.maximum is not None:
                number["maximum"] = self.maximum
            out = {"anyOf": [number, {"type": "string", "pattern": NUMBER_STRING}]}
        elif self.kind == "object":
            out = {"type": "object"}
            if self.fields:
                out["properties"] = {f.name: f.json_schema() for f in self.fields}
        else:
            out = {"type": "array", "items": self.string_schema()}
        if self.description:
            out = {**out, "description": self.description}
        if self.write_only:
            out = {**out, "writeOnly": True}
        return out


@dataclass(frozen=True)
class Body:
    """A request body: its fields and the documented reasons a valid one is still refused."""

    name: str  # the component schema name in the OpenAPI document
    fields: tuple[Field, ...]
    description: str = ""
    refusals: Mapping[str, str] = field(default_factory=dict)

    def json_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object"}
        required = [f.name for f in self.fields if f.required]
        if required:
            out["required"] = required
        if self.description:
            out["description"] = self.description
        out["properties"] = {f.name: f.json_schema() for f in self.fields}
        return out

    def all_refusals(self) -> dict[str, str]:
        """The declared refusals plus the ones the declaration implies (string-form ranges)."""
        out = dict(self.refusals)
        for f in _walk(self.fields, ""):
            name, fld = f
            if fld.kind == "integer" and (fld.minimum is not None or fld.maximum is not None):
                out.setdefault(name, f"as a string, must be between {fld.minimum} and "
                                     f"{fld.maximum}")  # fmt: skip
        return out

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        """The typed values of every declared field (None when absent); 400 names a field."""
        return _parse_fields(self.fields, Params(data))


def _walk(fields: tuple[Field, ...], prefix: str) -> list[tuple[str, Field]]:
    out: list[tuple[str, Field]] = []
    for f in fields:
        out.append((prefix + f.name, f))
        out.extend(_walk(f.fields, f"{prefix}{f.name}."))
    return out


def _parse_fields(fields: tuple[Field, ...], p: Params) -> dict[str, Any]:
    return {f.name: _parse(f, p) for f in fields}


def _parse(f: Field, p: Params) -> Any:
    full = p.name_of(f.name)
    if f.kind == "boolean":
        raw = p.raw.get(f.name)
        if not f.required and (raw is None or (isinstance(raw, str) and not raw.strip())):
            return None  # "" is "not given" for an optional flag: the caller's default
        return p.bool(f.name, required=f.required)
    if f.kind == "integer":
        return p.int(f.name, min=f.minimum, max=f.maximum, required=f.required)
    if f.kind == "object":
        nested = p.obj(f.name, required=f.required)
        if nested is None:
            return None
        check_no_surrogates(full, nested.raw)
        values = _parse_fields(f.fields, nested)
        return {**nested.raw, **{k: v for k, v in values.items() if v is not None}}
    if f.kind == "array":
        items = p.list(f.name, required=f.required)
        if items is not None:
            for item in items:
                if not isinstance(item, str):
                    raise BadRequest(full, f"{full} must be a list of strings")
                check_text(f, full, item)
        return items
    text = p.str(f.name, required=f.required, allow_empty=f.min_len == 0)
    if text is not None:
        check_text(f, full, text)
    return text


def check_text(f: Field, name: str, text: str) -> None:
    """Length, enum and character set of one string value of ``f``."""
    check_no_surrogates(name, text)
    if len(text) > f.max_len:
        raise BadRequest(name, f"field {name!r} is longer than {f.max_len}")
    if len(text) < f.min_len:
        raise BadRequest(name, f"field {name!r} must not be empty")
    if f.enum:
        if text.lower() not in {e.lower() for e in f.enum}:
            raise BadRequest(name, f"field {name!r} must be one of {', '.join(f.enum)}")
        return
    # fullmatch on the unanchored regex: Python's "$" would also match before a final "\n".
    if not re.fullmatch(f.regex[1:-1], text):
        raise BadRequest(name, f"field {name!r} has characters that are not allowed")


def check_no_surrogates(name: str, value: Any) -> None:
    """Lone surrogates anywhere in a free-form value (they make JSON rendering fail)."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise BadRequest(name, f"field {name!r} has a lone surrogate character")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_no_surrogates(name, key)
            check_no_surrogates(name, item)
    elif isinstance(value, list):
        for item in value:
            check_no_surrogates(name, item)


LENIENT_BOOLEAN: dict[str, Any] = {
    "description": "A JSON boolean, or its string form (WCS pages send strings).",
    "anyOf": [
        {"type": "boolean"},
        {"type": "integer", "enum": [0, 1]},
        {"type": "string", "enum": _BOOL_ENUM},
    ],
}
