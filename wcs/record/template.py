"""Record file names from a WCS-style template (``stream_record_policy_template``).

Elements: ``{streamName}``, ``{startTime}``, ``{endTime}`` (epoch milliseconds, as
``{startTimeMillis}`` / ``{endTimeMillis}``), ``{duration}`` (ms), ``{mediaSessionId}``,
``{callId}``, ``{audioCodec}``, ``{videoCodec}``. An unknown element is an error (a typo would
otherwise land in every file name). ``{endTime}``, ``{endTimeMillis}`` and ``{duration}`` are
unknown while a file is written: they stay in the name literally until the file is closed and
renamed (WCS shows such names in ``/recorder/find_all`` too).

Values are sanitised: a stream name like ``a/../b`` must not escape the record directory, so
path separators, control characters and a leading dot become ``_``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ELEMENTS = frozenset(
    {
        "streamName",
        "startTime",
        "endTime",
        "startTimeMillis",
        "endTimeMillis",
        "duration",
        "mediaSessionId",
        "callId",
        "audioCodec",
        "videoCodec",
    }
)
END_ELEMENTS = frozenset({"endTime", "endTimeMillis", "duration"})
MAX_NAME = 200  # bytes of the base name, extension excluded (NAME_MAX is 255)

_ELEMENT = re.compile(r"\{([^{}]*)\}")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


class TemplateError(ValueError):
    """A template that cannot make file names; the message says why."""


@dataclass(frozen=True, slots=True)
class NameFields:
    stream_name: str
    media_session_id: str
    call_id: str | None
    audio_codec: str
    video_codec: str


def validate_template(template: str) -> str:
    if not template or not template.strip():
        raise TemplateError("file template is empty")
    if len(template) > 512:
        raise TemplateError("file template is longer than 512 characters")
    for name in _ELEMENT.findall(template):
        if name not in ELEMENTS:
            raise TemplateError(f"unknown file template element {{{name}}}")
    return template


def sanitize(value: str) -> str:
    """One path component: no separators, no control characters, no leading dot."""
    value = _UNSAFE.sub("_", value)
    if value.startswith("."):
        value = "_" + value[1:]
    return value


def render(
    template: str,
    fields: NameFields,
    start_ms: int,
    end_ms: int | None = None,
) -> str:
    """The base name (no extension); end elements stay literal while ``end_ms`` is None."""
    values = {
        "streamName": fields.stream_name,
        "startTime": str(start_ms),
        "startTimeMillis": str(start_ms),
        "mediaSessionId": fields.media_session_id,
        "callId": fields.call_id or "",
        "audioCodec": fields.audio_codec,
        "videoCodec": fields.video_codec,
    }
    if end_ms is not None:
        values["endTime"] = str(end_ms)
        values["endTimeMillis"] = str(end_ms)
        values["duration"] = str(max(0, end_ms - start_ms))

    def element(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in values:
            return sanitize(values[name])
        if name in END_ELEMENTS:
            return m.group(0)
        raise TemplateError(f"unknown file template element {{{name}}}")

    name = sanitize(_ELEMENT.sub(element, template)) or "record"
    encoded = name.encode("utf-8")
    if len(encoded) > MAX_NAME:
        name = encoded[:MAX_NAME].decode("utf-8", "ignore")
    return name


__all__ = [
    "ELEMENTS",
    "END_ELEMENTS",
    "NameFields",
    "TemplateError",
    "render",
    "sanitize",
    "validate_template",
]
