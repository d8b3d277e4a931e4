"""Lenient typed access to WCS-style JSON bodies.

The WCS demo pages send booleans and numbers as strings ("true", "5060"), so every accessor
accepts both the JSON type and its string form. A missing required field or a value of the
wrong shape raises :class:`BadRequest` naming the field; JSON ``null`` counts as missing.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Iterator
from typing import Any

from wcs.rest.errors import BadRequest

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class Params:
    """Typed view over one JSON object; ``prefix`` names nested objects in errors."""

    __slots__ = ("_data", "_prefix")

    def __init__(self, data: dict[str, Any], prefix: builtins.str = "") -> None:
        self._data = data
        self._prefix = prefix

    @property
    def raw(self) -> dict[str, Any]:
        return self._data

    def __contains__(self, name: object) -> builtins.bool:
        return isinstance(name, str) and self._data.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __repr__(self) -> builtins.str:
        # Values may be SIP passwords: names only.
        return f"Params({sorted(self._data)!r})"

    def _name(self, name: builtins.str) -> builtins.str:
        return f"{self._prefix}{name}"

    def name_of(self, name: builtins.str) -> builtins.str:
        """``name`` as errors spell it (``config.rotation`` inside ``config``)."""
        return self._name(name)

    def _get(self, name: builtins.str, required: builtins.bool) -> Any:
        value = self._data.get(name)
        if value is None and required:
            raise BadRequest(self._name(name), f"missing required field {self._name(name)!r}")
        return value

    def _get_number(self, name: builtins.str, required: builtins.bool) -> Any:
        """The value, None when absent or (not required) a blank string."""
        value = self._get(name, required)
        if isinstance(value, str) and not value.strip() and not required:
            return None
        return value

    def _invalid(self, name: builtins.str, what: builtins.str) -> BadRequest:
        return BadRequest(self._name(name), f"field {self._name(name)!r} must be {what}")

    def str(
        self,
        name: builtins.str,
        required: builtins.bool = False,
        default: builtins.str | None = None,
        max_len: builtins.int | None = None,
        allow_empty: builtins.bool = True,
    ) -> builtins.str | None:
        """A string; JSON numbers are turned into their text ("callee": 1002 is fine)."""
        value = self._get(name, required)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self._invalid(name, "a string")
        text = value if isinstance(value, str) else _number_text(value)
        if not text and (required or not allow_empty):
            raise BadRequest(self._name(name), f"field {self._name(name)!r} must not be empty")
        if max_len is not None and len(text) > max_len:
            raise BadRequest(
                self._name(name), f"field {self._name(name)!r} is longer than {max_len}"
            )
        return text

    def req_str(self, name: builtins.str, max_len: builtins.int | None = None) -> builtins.str:
        """A required non-empty string (saves callers an ``assert is not None``)."""
        value = self.str(name, required=True, max_len=max_len)
        assert value is not None
        return value

    def bool(
        self, name: builtins.str, default: builtins.bool = False, required: builtins.bool = False
    ) -> builtins.bool:
        value = self._get(name, required)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)  # 1.0 too: JSON Schema counts it as the integer 1
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
            if word == "" and not required:
                return default
        raise self._invalid(name, "a boolean")

    def int(
        self,
        name: builtins.str,
        default: builtins.int | None = None,
        min: builtins.int | None = None,
        max: builtins.int | None = None,
        required: builtins.bool = False,
    ) -> builtins.int | None:
        value = self._get_number(name, required)
        if value is None:
            return default
        result: int | None = None
        if isinstance(value, bool):
            result = None
        elif isinstance(value, int):
            result = value
        elif isinstance(value, float) and value.is_integer():
            result = int(value)
        elif isinstance(value, str):
            text = value.strip()
            # Bound the length: int() of a huge digit string is slow (CPython caps it anyway).
            if len(text) <= 32:
                try:
                    result = int(text, 10)
                except ValueError:
                    result = None
        if result is None:
            raise self._invalid(name, "an integer")
        self._check_range(name, result, min, max)
        return result

    def float(
        self,
        name: builtins.str,
        default: builtins.float | None = None,
        min: builtins.float | None = None,
        max: builtins.float | None = None,
        required: builtins.bool = False,
    ) -> builtins.float | None:
        value = self._get_number(name, required)
        if value is None:
            return default
        result: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            result = float(value)
        elif isinstance(value, str) and len(value) <= 64:
            try:
                result = float(value.strip())
            except ValueError:
                result = None
        if result is None or not math.isfinite(result):
            raise self._invalid(name, "a number")
        self._check_range(name, result, min, max)
        return result

    def obj(self, name: builtins.str, required: builtins.bool = False) -> Params | None:
        """A nested object as Params (errors name it ``outer.inner``), or None if absent."""
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._invalid(name, "an object")
        return Params(value, prefix=f"{self._name(name)}.")

    def list(
        self, name: builtins.str, required: builtins.bool = False
    ) -> builtins.list[Any] | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self._invalid(name, "a list")
        return value

    def _check_range(
        self,
        name: builtins.str,
        value: builtins.float,
        low: builtins.float | None,
        high: builtins.float | None,
    ) -> None:
        if (low is not None and value < low) or (high is not None and value > high):
            raise BadRequest(
                self._name(name),
                f"field {self._name(name)!r} must be between {low} and {high}",
            )


def _number_text(value: builtins.int | builtins.float) -> builtins.str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
