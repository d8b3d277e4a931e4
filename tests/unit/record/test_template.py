from __future__ import annotations

import pytest

from wcs.record.rotation import Rotation, RotationError, parse_rotation
from wcs.record.template import NameFields, TemplateError, render, sanitize, validate_template

FIELDS = NameFields("cam/1", "msid-42", "call-7", "aac", "h264")


def test_every_element() -> None:
    t = "{streamName}_{startTime}_{endTime}_{mediaSessionId}_{callId}_{audioCodec}_{videoCodec}"
    assert render(t, FIELDS, 1000, 4500) == "cam_1_1000_4500_msid-42_call-7_aac_h264"
    assert render("{startTimeMillis}-{endTimeMillis}-{duration}", FIELDS, 1000, 4500) == (
        "1000-4500-3500"
    )


def test_end_elements_stay_literal_while_recording() -> None:
    assert render("{streamName}-{startTime}-{endTime}", FIELDS, 5, None) == "cam_1-5-{endTime}"


def test_names_cannot_escape_the_directory() -> None:
    fields = NameFields("../../etc/passwd", "m", None, "", "")
    name = render("{streamName}", fields, 0)
    assert "/" not in name and not name.startswith(".")
    assert sanitize("a\\b\x00c\nd") == "a_b_c_d"
    assert render("{callId}", NameFields("s", "m", None, "", ""), 0) == "record"


def test_long_names_are_cut() -> None:
    fields = NameFields("x" * 600, "m", None, "", "")
    assert len(render("{streamName}", fields, 0).encode()) == 200


@pytest.mark.parametrize("bad", ["", "  ", "{login}-{startTime}", "{streamname}", "x" * 513])
def test_bad_templates(bad: str) -> None:
    with pytest.raises(TemplateError):
        validate_template(bad)


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("", Rotation()),
        ("off", Rotation()),
        ("0", Rotation()),
        ("20M", Rotation(max_bytes=20 * 1024**2)),
        ("20MB", Rotation(max_bytes=20 * 1024**2)),
        ("512K", Rotation(max_bytes=512 * 1024)),
        ("1G", Rotation(max_bytes=1024**3)),
        ("60s", Rotation(max_ms=60_000)),
        ("10m", Rotation(max_ms=600_000)),
        ("1h", Rotation(max_ms=3_600_000)),
        ("1500ms", Rotation(max_ms=1500)),
        (" 2.5s ", Rotation(max_ms=2500)),
    ],
)
def test_rotation_specs(spec: str, want: Rotation) -> None:
    assert parse_rotation(spec) == want
    assert parse_rotation(spec).enabled == (want != Rotation())


@pytest.mark.parametrize("bad", ["20X", "ten", "-5s", "10 parsecs", "100", "500ms", "1K"])
def test_bad_rotation_specs(bad: str) -> None:
    with pytest.raises(RotationError):
        parse_rotation(bad)
