"""Rotation settings: ``""`` (off), a size (``"20M"``) or a duration (``"60s"``, ``"10m"``).

Sizes take an upper-case unit ``K``, ``M`` or ``G`` (powers of 1024, optionally followed by
``B``) or none (bytes); durations a lower-case ``s``, ``m`` or ``h``. The case tells ``10M``
(10 MiB, the WCS example) from ``10m`` (ten minutes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]B?|B|[smh]|ms)?\s*$")
_SIZE = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_TIME_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
MIN_BYTES = 64 * 1024
MIN_MS = 1000


class RotationError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rotation:
    max_bytes: int | None = None
    max_ms: float | None = None

    @property
    def enabled(self) -> bool:
        return self.max_bytes is not None or self.max_ms is not None


NO_ROTATION = Rotation()


def parse_rotation(spec: str | None) -> Rotation:
    if spec is None or spec.strip().lower() in ("", "0", "off", "none", "false"):
        return NO_ROTATION
    m = _SPEC.match(spec)
    if m is None:
        raise RotationError(
            f"rotation {spec!r}: want a size like '20M' or a duration like '60s' or '10m'"
        )
    number = float(m.group(1))
    unit = m.group(2) or ""
    if unit in _TIME_MS:
        ms = number * _TIME_MS[unit]
        if ms < MIN_MS:
            raise RotationError(f"rotation {spec!r}: shorter than {MIN_MS} ms")
        return Rotation(max_ms=ms)
    size = int(number * _SIZE[unit.rstrip("B") if unit != "B" else "B"])
    if size < MIN_BYTES:
        raise RotationError(f"rotation {spec!r}: smaller than {MIN_BYTES} bytes")
    return Rotation(max_bytes=size)


__all__ = ["NO_ROTATION", "Rotation", "RotationError", "parse_rotation"]
