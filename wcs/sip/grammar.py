"""Small lexical helpers shared by the SIP parsers (RFC 3261 §25.1)."""

from __future__ import annotations

from collections.abc import Iterator

from .errors import SipParseError

_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")


def is_token(text: str) -> bool:
    return bool(text) and all(c in _TOKEN_CHARS for c in text)


def _outside_quotes(text: str) -> Iterator[tuple[int, str]]:
    """(index, char) of each character outside "quoted strings" (RFC 3261 quoted-pair aware);
    SipParseError once the text ends inside a quoted string."""
    in_quote = False
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if in_quote:
            if c == "\\":
                i += 1
            elif c == '"':
                in_quote = False
        elif c == '"':
            in_quote = True
        else:
            yield i, c
        i += 1
    if in_quote:
        raise SipParseError(f"unterminated quoted string in {text!r}")


def find_unquoted(text: str, char: str) -> int:
    """Index of the first `char` outside quoted strings, or -1."""
    return next((i for i, c in _outside_quotes(text) if c == char), -1)


def split_outside_quotes(text: str, sep: str) -> list[str]:
    """Split on `sep`, ignoring separators inside "quoted strings" and <...>."""
    parts: list[str] = []
    depth = 0
    start = 0
    for i, c in _outside_quotes(text):
        if c == "<":
            depth += 1
        elif c == ">":
            depth = max(0, depth - 1)
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_params(text: str) -> dict[str, str | None]:
    """Parse ';name=value;flag' (text starts after the first ';')."""
    params: dict[str, str | None] = {}
    if not text.strip():
        return params
    for part in split_outside_quotes(text, ";"):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            name, value = part.split("=", 1)
            name = name.strip()
            value = value.strip()
        else:
            name, value = part, None
        if not name:
            raise SipParseError(f"empty parameter name in {text!r}")
        params[name.lower()] = value
    return params


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        out: list[str] = []
        i = 1
        while i < len(text) - 1:
            c = text[i]
            if c == "\\" and i + 1 < len(text) - 1:
                i += 1
                c = text[i]
            out.append(c)
            i += 1
        return "".join(out)
    return text


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
