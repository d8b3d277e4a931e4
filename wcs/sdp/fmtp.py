"""``a=fmtp`` parameter strings (``"a=1;b=2"``) to a dict and back."""

from __future__ import annotations

from collections.abc import Mapping


def parse_fmtp(fmtp: str | None) -> dict[str, str]:
    """``"a=1;b=2"`` → ``{"a": "1", "b": "2"}``; value-less parts map to ``""``.

    Keys are lower-cased (RFC 6184 and most payload formats compare them case-insensitively).
    """
    params: dict[str, str] = {}
    if not fmtp:
        return params
    for part in fmtp.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        params[key.strip().lower()] = value.strip() if sep else ""
    return params


def format_fmtp(params: Mapping[str, str]) -> str:
    """The inverse of :func:`parse_fmtp`: ``key=value`` joined by ``;``, bare keys for ``""``."""
    return ";".join(f"{k}={v}" if v else k for k, v in params.items())
